"""Run every benchmark and write BENCHMARKS.md. Usage (from the repository root):

    .venv/bin/python benchmarks/run.py [--reps 5] [--sizes 4,16,64,200] [--out BENCHMARKS.md] [--only idle|dataplane|chatty]

Every figure is a ratio against a baseline measured in the same run; each cell is the median
of --reps runs with min and max. honcho is installed on first use into benchmarks/.work/."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import psutil
import zmq
from launchers import (
    HERE,
    PY,
    WORK,
    Bash,
    Floor,
    Honcho,
    Launcher,
    Zmqrun,
    alive,
    honcho_bin,
    kill_all,
    ports_free,
    tree_pids,
    wait_until,
)  # fmt: skip

from orchestrator.run.ports import listening_ports, port_is_free

ROOT = HERE.parent
ASSESSMENT = "## Assessment"


def free_ports(n: int, start: int = 21000) -> list[int]:
    ports, port = [], start
    while len(ports) < n:
        if port_is_free(port):
            ports.append(port)
        port += 1
    return ports


def stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def cell(xs: list[float], unit: str = "s", scale: float = 1.0, digits: int | None = None) -> str:
    """median (min–max), scaled, with 3 decimals for seconds and none otherwise unless told."""
    s = stats(xs)
    places = digits if digits is not None else (3 if unit == "s" else 0)
    return f"{s['median'] * scale:.{places}f} {unit} ({s['min'] * scale:.{places}f}–{s['max'] * scale:.{places}f})"


# ---- start-up and stop -----------------------------------------------------------------------


def start_stop(launchers: list[Launcher], n: int, reps: int) -> dict[str, dict[str, list[float]]]:
    ports = free_ports(n)
    results: dict[str, dict[str, list[float]]] = {la.name: {"start": [], "stop": []} for la in launchers}
    for rep in range(reps):
        order = launchers[rep % len(launchers):] + launchers[: rep % len(launchers)]
        for la in order:
            assert wait_until(lambda: ports_free(ports), 30), "ports still held before a trial"
            t0 = time.perf_counter()
            proc = la.start(ports)
            ok = wait_until(lambda: set(ports) <= listening_ports(), 300)
            started = time.perf_counter() - t0
            pids = tree_pids(proc.pid)
            if not ok:
                kill_all(proc, pids)
                raise RuntimeError(f"{la.name} did not bring up {n} nodes")
            results[la.name]["start"].append(started)
            if isinstance(la, Bash):
                kill_all(proc, pids)
                continue
            try:
                results[la.name]["stop"].append(ctrl_c(proc, ports, la.name))
            except RuntimeError as exc:  # reported, not averaged: one launcher's hang must not end the run
                print(f"  {exc}", flush=True)
                results[la.name].setdefault("hung", []).append(1.0)
    return results


def ctrl_c(proc: subprocess.Popen[bytes], ports: list[int], name: str) -> float:
    """Seconds from Ctrl-C until the launcher has exited, its nodes are gone and its ports free."""
    time.sleep(0.3)  # let the launcher settle, as a user would before pressing Ctrl-C
    pids = tree_pids(proc.pid)
    t1 = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole foreground group
    ok = wait_until(lambda: proc.poll() is not None and not alive(pids) and ports_free(ports), 60)
    took = time.perf_counter() - t1
    kill_all(proc, pids)
    if not ok:
        raise RuntimeError(f"{name} did not stop {len(ports)} nodes within 60 s")
    return took


def zmqrun_stop(n: int, reps: int, grace: float, stubborn: bool, stop_signal: str | None = None) -> list[float]:
    ports = free_ports(n)
    la = Zmqrun(WORK, stop_signal)
    times = []
    for _ in range(reps):
        proc = la.start(ports, stubborn=stubborn, grace=grace)
        assert wait_until(lambda: set(ports) <= listening_ports(), 300)
        times.append(ctrl_c(proc, ports, la.name))
    return times


# ---- chatty nodes ----------------------------------------------------------------------------

LINE = re.compile(r"(t\d+) (\d{7}) (the quick brown fox jumps over the lazy) ([0-9a-f]{8})$")
MODES = ("line", "full", "unbuffered")  # zmqrun's `buffering` settings; line is the default


def verify(path: Path, names: list[str], count: int) -> str | None:
    """None when every line of every node is there, whole, checksummed and in order."""
    seen = dict.fromkeys(names, 0)
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE.search(raw.rstrip("\n"))
            if not m:
                if "the quick" in raw:
                    return f"torn line: {raw[:80]!r}"
                continue
            name, seq, body, crc = m.group(1), int(m.group(2)), m.group(3), m.group(4)
            if f"{zlib.crc32(f'{name} {seq:07d} {body}'.encode()):08x}" != crc:
                return f"bad checksum: {raw[:80]!r}"
            if seq != seen[name]:
                return f"{name}: line {seq} where {seen[name]} was due"
            seen[name] += 1
    short = {k: v for k, v in seen.items() if v != count}
    return f"missing lines: {short}" if short else None


def zmqrun_to_file(cmd: list[str], target: Path) -> tuple[float, float]:
    """Seconds until zmqrun exits with its stdout to `target`, and its peak RSS in MB."""
    with open(target, "wb") as f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=f, start_new_session=True)
        peak = 0.0
        while proc.poll() is None:
            try:
                peak = max(peak, psutil.Process(proc.pid).memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        return time.perf_counter() - t0, peak / 1e6


def chatty(nodes: int, count: int, reps: int, honcho_reps: int) -> dict[str, list[float]]:
    """Every way of running the same chatty nodes, interleaved and rotated per rep."""
    names = [f"t{i}" for i in range(nodes)]
    talk = [PY, str(HERE / "talker.py")]
    for mode, lines in (*((m, count) for m in MODES), ("quiet", 0)):  # quiet: zmqrun's fixed cost
        (WORK / f"chatty-{mode}.yaml").write_text(f"buffering: {'full' if lines == 0 else mode}\nnodes:\n" + "".join(
            f"  {n}:\n    run: {json.dumps(talk + [n, str(lines)])}\n" for n in names))  # fmt: skip
    for kind, extra in (("file", ""), ("flushed", " flush")):
        (WORK / f"chatty-{kind}.sh").write_text(
            "".join(f"{' '.join(talk)} {n} {count}{extra} > {WORK}/direct-{n}.txt &\n" for n in names) + "wait\n")
    procfile = WORK / "Procfile.chatty"
    procfile.write_text("".join(f"{n}: {' '.join(talk)} {n} {count}\n" for n in names))
    floor = [PY, str(HERE / "ptyfloor.py"), str(WORK), *talk, str(count), "--", *names]
    trials = ["file", "flushed", "ptyfloor", *MODES, "quiet"]
    out: dict[str, list[float]] = {t: [] for t in trials} | {"honcho": [], "peak_mb": []}
    for rep in range(reps):
        for trial in trials[rep % len(trials):] + trials[: rep % len(trials)]:
            if trial in ("file", "flushed", "ptyfloor"):
                t0 = time.perf_counter()
                subprocess.run(floor if trial == "ptyfloor" else ["bash", str(WORK / f"chatty-{trial}.sh")], check=True)
                out[trial].append(time.perf_counter() - t0)
                for n in names:
                    assert verify(WORK / f"direct-{n}.txt", [n], count) is None
                continue
            target = WORK / "chatty-zmqrun.txt"
            took, peak = zmqrun_to_file([PY, "-m", "orchestrator", "--color", str(WORK / f"chatty-{trial}.yaml")], target)
            out[trial].append(took)
            out["peak_mb"].append(peak)
            problem = verify(target, names, 0 if trial == "quiet" else count)
            if problem:
                raise RuntimeError(f"zmqrun ({trial}) lost or broke lines: {problem}")
    for _ in range(honcho_reps):
        with open(WORK / "chatty-honcho.txt", "wb") as f:
            t0 = time.perf_counter()
            subprocess.run([honcho_bin(WORK), "-f", str(procfile), "start"], stdout=f, check=False)
            out["honcho"].append(time.perf_counter() - t0)
    return out


PINGER = "import time\nfor i in range(100):\n    print('ping', repr(time.time()))\n    time.sleep(0.01)\n"
KILLED = "import os, signal\nfor i in range(1000):\n    print(f'kept {i:04d}')\nos.kill(os.getpid(), signal.SIGKILL)\n"
PROBE = "import sys\nprint('isatty', sys.stdout.isatty())\n"


def behaviour(mode: str, reps: int) -> dict[str, object]:
    """Per `buffering` mode: latency of a line (node's print to zmqrun's, ms), lines kept of 1000
    printed just before a SIGKILL, and what a node checking isatty() sees."""
    def run(code: str, name: str) -> list[dict[str, object]]:
        script = WORK / f"{name}.py"
        script.write_text(code)
        topo = WORK / f"{name}-{mode}.yaml"
        topo.write_text(f"nodes:\n  {name}:\n    run: {json.dumps([PY, str(script)])}\n    buffering: {mode}\n")
        res = subprocess.run([PY, "-m", "orchestrator", "--json", str(topo)], capture_output=True, text=True, timeout=60)
        return [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]

    latencies = []
    for _ in range(reps):
        lines = [r for r in run(PINGER, "pinger") if r["node"] == "pinger"]
        latencies.append(statistics.median(1000 * (float(r["time"]) - float(str(r["line"]).split()[1])) for r in lines))
    kept = sum(1 for r in run(KILLED, "killed") if r["node"] == "killed" and str(r["line"]).startswith("kept"))
    tty = next(str(r["line"]).split()[1] for r in run(PROBE, "probe") if r["node"] == "probe")
    return {"latency": latencies, "kept": kept, "isatty": tty}


def direct_behaviour() -> dict[str, object]:
    """The same SIGKILL and isatty probes with the node's output straight to a file."""
    kept_path, probe_path = WORK / "killed-direct.txt", WORK / "probe-direct.txt"
    for code, path in ((KILLED, kept_path), (PROBE, probe_path)):
        with open(path, "wb") as f:
            subprocess.run([PY, "-c", code], stdout=f, check=False)
    return {"kept": kept_path.read_text().count("kept"), "isatty": probe_path.read_text().split()[1]}


# ---- zmqrun's own phases, and many nodes ------------------------------------------------------


class Traced:
    """zmqrun run with --json, its output read as it comes (each record carries zmqrun's clock)."""

    def __init__(self, cmd: list[str], env: dict[str, str] | None = None):
        self.records: list[dict[str, object]] = []
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, cwd=WORK, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env={**os.environ, **(env or {})})  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.records.append(json.loads(line))

    def note(self, prefix: str) -> dict[str, object] | None:
        return next((r for r in list(self.records) if r["node"] == "zmqrun" and str(r["line"]).startswith(prefix)), None)


def phases(n: int, reps: int) -> dict[str, list[float]]:
    """zmqrun's own share of a start: exec to its first spawn, and last node listening to
    zmqrun saying every process is ready."""
    ports = free_ports(n)
    cmd = Zmqrun(WORK).command(ports, False, 3.0)
    cmd = cmd[:-2] + ["--json", cmd[-1]]
    out: dict[str, list[float]] = {"first_spawn": [], "ready_note": []}
    out["python"], out["python_yaml"] = [], []
    log = WORK / "bound.log"
    for _ in range(reps):
        for key, code in (("python", "pass"), ("python_yaml", "import yaml")):  # the floor under zmqrun's start
            t0 = time.perf_counter()
            subprocess.run([PY, "-c", code], check=True)
            out[key].append(time.perf_counter() - t0)
        assert wait_until(lambda: ports_free(ports), 30)
        log.write_text("")
        run = Traced(cmd, {"BENCH_BOUND_LOG": str(log)})
        ok = wait_until(lambda: run.note("all ") is not None, 120)
        pids = tree_pids(run.proc.pid)
        if not ok:
            kill_all(run.proc, pids)
            raise RuntimeError(f"zmqrun did not report {n} nodes ready")
        first = run.note("started ")
        bound = [float(t) for t in log.read_text().split()]
        out["first_spawn"].append(float(first["time"]) - run.t0)  # type: ignore[index,arg-type]
        out["ready_note"].append(float(run.note("all ")["time"]) - max(bound))  # type: ignore[index,arg-type]
        ctrl_c(run.proc, ports, "zmqrun")
    return out


def own_pss(pid: int) -> float:
    """zmqrun's own memory in MB (PSS): zmqrun and its guardian (a fork of it), not the nodes."""
    top = psutil.Process(pid)
    own = [top] + [c for c in top.children() if c.cmdline() == top.cmdline()]
    return sum(p.memory_full_info().pss for p in own) / 1e6


def many(sizes: tuple[int, int], reps: int) -> dict[int, dict[str, list[float]]]:
    """Start (until zmqrun says all ready), relay (every node's line present), memory and stop of
    light nodes (a shell that prints a line and becomes `sleep`), at a small and a large N."""
    res: dict[int, dict[str, list[float]]] = {n: {"start": [], "stop": [], "pss": []} for n in sizes}
    for n in sizes:
        (WORK / f"many-{n}.yaml").write_text(
            f"nodes:\n  n:\n    replicas: {n}\n    run: ['/bin/sh', '-c', 'echo up $ZMQRUN_REPLICA; exec sleep 600']\n"
            "    ready: {log: '^up '}\n")  # fmt: skip
    for rep in range(reps):
        for n in sizes if rep % 2 == 0 else sizes[::-1]:
            run = Traced([PY, "-m", "orchestrator", "--json", str(WORK / f"many-{n}.yaml")])
            ok = wait_until(lambda: run.note("all ") is not None, 600, 0.005)
            took = time.time() - run.t0
            pids = tree_pids(run.proc.pid)
            if not ok:
                kill_all(run.proc, pids)
                raise RuntimeError(f"zmqrun did not report {n} nodes ready")
            res[n]["pss"].append(own_pss(run.proc.pid))
            res[n]["start"].append(took)
            res[n]["stop"].append(ctrl_c(run.proc, [], "zmqrun"))
            run.reader.join(30)
            ups = {str(r["line"]) for r in run.records if r["node"] == "n"}
            if ups != {f"up {i}" for i in range(1, n + 1)}:
                raise RuntimeError(f"zmqrun relayed {len(ups)} of {n} nodes' lines")
    return res


# ---- idle cost -------------------------------------------------------------------------------


def own_processes(proc: subprocess.Popen[bytes], nodes: set[int]) -> list[psutil.Process]:
    """The launcher's own processes: its tree minus the nodes (and their children)."""
    top = psutil.Process(proc.pid)
    everything = [top] + top.children(recursive=True)
    node_trees = set(nodes)
    for pid in nodes:
        try:
            node_trees |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
    return [p for p in everything if p.pid not in node_trees]


def idle(la: Launcher, n: int, seconds: float) -> tuple[float, float, int]:
    ports = free_ports(n)
    proc = la.start(ports)
    try:
        assert wait_until(lambda: set(ports) <= listening_ports(), 120)
        time.sleep(1.0)
        nodes = {c.pid for c in psutil.Process(proc.pid).children(recursive=True) if "node.py" in " ".join(c.cmdline())}
        own = own_processes(proc, nodes)

        def cpu() -> float:
            """CPU seconds from /proc/PID/schedstat (nanoseconds; cpu_times() counts 10 ms ticks)."""
            total = 0
            for p in own:
                with open(f"/proc/{p.pid}/schedstat") as f:
                    total += int(f.read().split()[0])
            return total / 1e9

        before = cpu()
        time.sleep(seconds)
        used = cpu() - before
        pss = sum(p.memory_full_info().pss for p in own)
        return used, pss / 1e6, len(own)
    finally:
        pids = tree_pids(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        wait_until(lambda: proc.poll() is not None, 20)
        kill_all(proc, pids)


# ---- data plane ------------------------------------------------------------------------------


def throughput(recv_args: list[str], send_args: list[str], middle: list[str] | None, env: dict[str, str] | None = None,
               ends: tuple[dict[str, str], dict[str, str]] = ({}, {})) -> float:  # fmt: skip
    dp = [PY, str(HERE / "dataplane.py")]
    procs = []
    try:
        receiver = subprocess.Popen(dp + ["recv"] + recv_args, stdout=subprocess.PIPE, text=True, env={**os.environ, **ends[0]})
        procs.append(receiver)
        assert receiver.stdout.readline().strip() == "ready"
        if middle:
            mid = subprocess.Popen(middle, stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
            procs.append(mid)
            wait_until(lambda: mid.stdout.readline() != "", 10)
        sender = subprocess.Popen(dp + ["send"] + send_args, env={**os.environ, **ends[1]})
        procs.append(sender)
        rate = float(receiver.stdout.readline())
        receiver.wait(timeout=60)
        sender.wait(timeout=60)
        return rate
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def curve_ends(directory: str) -> tuple[dict[str, str], dict[str, str]]:
    """Environments of a CURVE receiver (server) and sender (client), with key files as zmqrun makes them."""
    from orchestrator.security import store
    from orchestrator.security.keys import Keyring

    keys = Keyring(os.path.join(directory, "keys"))
    server, client = keys.public("recv.1"), keys.public("send.1")
    store.write(keys)

    def env(label: str, extra: dict[str, object]) -> dict[str, str]:
        return {"ZMQRUN_CURVE_PUBLICKEY": keys.public(label), "ZMQRUN_CURVE_SECRETKEY_FILE": keys.secret_file(label),
                "DATAPLANE_CURVE": json.dumps({"security": "curve", **extra})}  # fmt: skip

    return env("recv.1", {"clientkeys": [client]}), env("send.1", {"serverkeys": [server]})


def dataplane(reps: int) -> dict[str, dict[str, list[float]]]:
    import tempfile

    ports = free_ports(3, 26000)
    a, b = (f"tcp://127.0.0.1:{p}" for p in ports[:2])
    res: dict[str, dict[str, list[float]]] = {}
    keydir = tempfile.TemporaryDirectory(prefix="dataplane-")  # 0700, like a run's private directory
    curve = curve_ends(keydir.name)
    for size, count in ((16, 300_000), (1024, 100_000)):
        r = res.setdefault(f"{size}", {"bare proxy": [], "built-in streamer": [], "raw pyzmq": [], "helper": [], "curve": []})
        device_env = {"ZMQRUN_SOCKETS": json.dumps({"frontend": {"type": "PULL", "bind": True, "endpoints": [a]},
                                                    "backend": {"type": "PUSH", "bind": True, "endpoints": [b]}})}  # fmt: skip
        for _ in range(reps):
            via_proxy = ([b, str(count), "raw", "connect"], [a, str(count), str(size), "raw"])
            r["bare proxy"].append(throughput(*via_proxy, [PY, str(HERE / "dataplane.py"), "proxy", a, b]))
            r["built-in streamer"].append(throughput(*via_proxy, [PY, "-m", "orchestrator.nodes.device", "streamer"], device_env))
            r["raw pyzmq"].append(throughput([a, str(count), "raw", "bind"], [a, str(count), str(size), "raw"], None))
            r["helper"].append(throughput([a, str(count), "helper", "bind"], [a, str(count), str(size), "helper"], None))
            r["curve"].append(throughput([a, str(count), "curve", "bind"], [a, str(count), str(size), "curve"], None, ends=curve))
    keydir.cleanup()
    return res


# ---- the report ------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {os.cpu_count()} cores ({cpu}), {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.platform()}",
        f"- Python {platform.python_version()}, pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}, psutil {psutil.__version__}",
        "- the machine is shared and noisy: every cell is the median of the runs, with (min–max)",
    ]


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def idle_section(reps: int) -> list[str]:
    md = ["## 4. Idle cost", "", "16 quiet nodes; CPU (user + system) and memory (PSS, so shared pages count once) of the "
          "launcher's own processes over 10 s, nodes excluded. zmqrun's own processes are zmqrun and its guardian. "
          "In the last row each node also dials the next one's PUB with a SUB (16 quiet tcp edges), which zmqrun "
          "samples from the kernel at its default rate (--edge-interval 3s).", "",
          "| launcher | CPU per 10 s | memory | processes | target |", "|---|---|---|---|---|"]  # fmt: skip
    for la in (Honcho(WORK), Zmqrun(WORK), Zmqrun(WORK, edges=True)):
        print(f"idle {la.name}", flush=True)
        runs = [idle(la, 16, 10.0) for _ in range(max(1, reps // 2))]
        cpu_ms = [u * 1000 for u, _, _ in runs]
        mem = [m for _, m, _ in runs]
        target = (f"≤ 5 ms and ≤ 60 MB: {verdict(statistics.median(cpu_ms) <= 5 and statistics.median(mem) <= 60)}"
                  if la.name.startswith("zmqrun") else "")  # fmt: skip
        md.append(f"| {la.name} | {cell(cpu_ms, 'ms', digits=1)} | {cell(mem, 'MB', digits=1)} | {runs[0][2]} | {target} |")
    md.append("")
    return md


def dataplane_section(reps: int) -> list[str]:
    md = ["## 5. Data plane", "", "PUSH -> PULL throughput (messages/s, measured by the receiver) through a proxy: the built-in "
          "`device: streamer` node against a bare `zmq.proxy` script; and a pair of nodes whose sockets come from "
          "`orchestrator.node` against raw pyzmq.", "",
          "| message | bare zmq.proxy | built-in streamer | ratio | raw pyzmq | helper | ratio | target |",
          "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    print("data plane", flush=True)
    results = dataplane(reps)
    for size, r in results.items():
        bp, bs, raw, hp = (statistics.median(r[k]) for k in ("bare proxy", "built-in streamer", "raw pyzmq", "helper"))
        md.append(f"| {size} B | {bp:,.0f} | {bs:,.0f} | {bs / bp:.2f}x | {raw:,.0f} | {hp:,.0f} | {hp / raw:.2f}x "
                  f"| ≥ 0.95x both: {verdict(bs / bp >= 0.95 and hp / raw >= 0.95)} |")  # fmt: skip
    md += ["", "With `security: curve`: the same pair of helper nodes, each with its key pair from key files as zmqrun "
           "makes them, the receiver a CURVE server admitting the sender's key through the helper's ZAP handler; "
           "interleaved with the plain runs above. CURVE encrypts and authenticates every message (and the handshake "
           "once per connection), so it costs throughput; there is no target, the ratio is what to expect.", "",
           "The last column pairs each CURVE run with the plain run just before it, which cancels slow swings "
           "in the machine's load; it is the figure to quote.", "",
           "| message | helper, NULL | helper, CURVE | CURVE / NULL (medians) | CURVE / NULL, paired: median (min–max) |",
           "|---|---|---|---|---|"]  # fmt: skip
    for size, r in results.items():
        hp, cv = statistics.median(r["helper"]), statistics.median(r["curve"])
        spread = {k: f"{statistics.median(r[k]):,.0f} ({min(r[k]):,.0f}–{max(r[k]):,.0f})" for k in ("helper", "curve")}
        paired = [c / h for h, c in zip(r["helper"], r["curve"])]
        md.append(f"| {size} B | {spread['helper']} | {spread['curve']} | {cv / hp:.2f}x "
                  f"| {statistics.median(paired):.2f}x ({min(paired):.2f}–{max(paired):.2f}) |")  # fmt: skip
    md.append("")
    return md


def replace_section(text: str, section: list[str]) -> str:
    """`text` with its section of the same heading as `section` replaced, up to the next heading."""
    head = section[0] + "\n"
    start = text.index(head)
    end = text.find("\n## ", start + len(head))
    return text[:start] + "\n".join(section) + (text[end:] if end >= 0 else "\n")


SECTIONS = ("startstop", "phases", "sigterm", "stubborn", "chatty", "idle", "dataplane", "many")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sizes", default="4,16,64,200")
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--many", type=int, default=0, metavar="N",
                    help="also start, relay and stop N light nodes against 16 (1000 takes minutes)")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections (for trying one out)")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args()
    # Nodes get the buffering that each trial names, never the harness's own environment's.
    os.environ.pop("PYTHONUNBUFFERED", None)
    alone = {  # sections that can be measured again on their own, replacing theirs in --out
        "dataplane": lambda: dataplane_section(max(args.reps, 9)),
        "idle": lambda: idle_section(args.reps),
        "chatty": lambda: chatty_section(args.lines, args.reps),
    }
    if args.only in alone:
        WORK.mkdir(exist_ok=True)
        honcho_bin(WORK)
        section = alone[args.only]()
        section.insert(2, f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `benchmarks/run.py --only {args.only}`; "
                       "the other sections come from the full run dated above.\n")  # fmt: skip
        out = Path(args.out)
        out.write_text(replace_section(out.read_text(), section))
        print(f"wrote {section[0].lstrip('# ')} to {args.out}")
        return 0
    only = set(args.only.split(","))
    WORK.mkdir(exist_ok=True)
    honcho_bin(WORK)
    sizes = [int(x) for x in args.sizes.split(",")]
    load = os.getloadavg()
    md = ["# zmqrun benchmarks", "", "Reproduce: `.venv/bin/python benchmarks/run.py --many 1000` (after the README's first "
          "set-up command; honcho is installed into `benchmarks/.work/`).", "", "## Machine", "", *machine(),
          f"- load average when the run began: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min); other jobs shared the "
          "machine, so absolute times are inflated and only the ratios within this run mean much", ""]  # fmt: skip
    out = Path(args.out)
    kept = ""
    if out.exists() and ASSESSMENT in out.read_text():  # the hand-written reading of the figures stays
        kept = out.read_text()[out.read_text().index(ASSESSMENT):]

    def save() -> None:
        """After every section, so that a run cut short still leaves what it measured."""
        out.write_text("\n".join(md) + "\n" + kept)

    honcho_stop: dict[int, list[float]] = {}
    if "startstop" in only:
        md += start_stop_section(sizes, args.reps, honcho_stop)
        save()
    if "phases" in only:
        md += ["### zmqrun's own phases", "",
               "The same nodes, zmqrun run with `--json` (every record carries zmqrun's clock). *Exec to first spawn*: from "
               "the harness starting zmqrun to zmqrun's note that it started the first node (interpreter, imports, YAML, "
               "validation, plan, guardian). *Last ready to \"all ready\"*: from the last node's own clock reading just "
               "after it listened to zmqrun printing \"all N processes ready\" (port polling and the note).", "",
               "For scale, in the same run: the same Python starting and exiting (`python -c pass`), and starting, "
               "importing PyYAML and exiting (`python -c 'import yaml'`).", "",
               "| N | `python -c pass` | `python -c 'import yaml'` | zmqrun: exec to first spawn | zmqrun: last ready to "
               "\"all ready\" |", "|---|---|---|---|---|"]  # fmt: skip
        for n in sizes:
            print(f"phases N={n}", flush=True)
            r = phases(n, args.reps)
            md.append(f"| {n} | {cell(r['python'], 'ms', 1000)} | {cell(r['python_yaml'], 'ms', 1000)} "
                      f"| {cell(r['first_spawn'], 'ms', 1000)} | {cell(r['ready_note'], 'ms', 1000)} |")  # fmt: skip
        md.append("")
        save()
    if "sigterm" in only and honcho_stop:
        md += ["### Stop with `stop_signal: SIGTERM`", "",
               "On Ctrl-C honcho's nodes get SIGINT from the terminal and honcho sends SIGTERM at once; a Python node "
               "killed by SIGTERM's default action skips its own clean-up and interpreter shutdown. The same topology "
               "with `stop_signal: SIGTERM`:", "",
               "| N | honcho (stop) | zmqrun, SIGTERM (stop) | ratio | target ≤ 0.5x |", "|---|---|---|---|---|"]  # fmt: skip
        for n in sizes:
            print(f"stop with SIGTERM N={n}", flush=True)
            t = zmqrun_stop(n, args.reps, 3.0, stubborn=False, stop_signal="SIGTERM")
            ratio = statistics.median(t) / statistics.median(honcho_stop[n])
            md.append(f"| {n} | {cell(honcho_stop[n], 'ms', 1000)} | {cell(t, 'ms', 1000)} | {ratio:.2f}x | {verdict(ratio <= 0.5)} |")
        md.append("")
        save()
    if "stubborn" in only:
        md += ["### Stubborn nodes", "", "Nodes ignore SIGINT and SIGTERM; grace 1 s. Target: total ≤ grace + 0.5 s, whatever N.", "",
               "| N | zmqrun stop | target |", "|---|---|---|"]  # fmt: skip
        for n in [x for x in sizes if x in (16, 64)] or sizes[:1]:
            print(f"stubborn N={n}", flush=True)
            t = zmqrun_stop(n, args.reps, 1.0, stubborn=True)
            md.append(f"| {n} | {cell(t)} | ≤ 1.5 s: {verdict(statistics.median(t) <= 1.5)} |")
        md.append("")
    if "chatty" in only:
        md += chatty_section(args.lines, args.reps)
        save()
    if "many" in only and args.many:
        md += many_section(args.many, max(2, args.reps // 2))
        save()
    if "idle" in only:
        md += idle_section(args.reps)
        save()
    if "dataplane" in only:
        md += dataplane_section(max(args.reps, 9))
    save()
    print(f"wrote {args.out}")
    return 0


def start_stop_section(sizes: list[int], reps: int, honcho_stop: dict[int, list[float]]) -> list[str]:
    md = ["## 1. Start-up to all-ready, 2. Stop, 6. Scale", "",
          "Start-up: from launching the command until every node's port listens. Stop: from Ctrl-C (SIGINT to the "
          "launcher's foreground process group, as a terminal sends it) until the launcher has exited, every node is "
          "gone and every port is free. Nodes are `benchmarks/node.py`: a pyzmq PUB bound to a fixed port; "
          "cooperative ones exit on SIGINT. The stop floor is `benchmarks/floor.py`: it starts the same nodes, "
          "each in a session of its own, and on Ctrl-C sends each SIGINT and waits for them all; nothing else.", "",
          "| N | bash & (start) | honcho (start) | zmqrun (start) | zmqrun / bash | zmqrun / honcho | target | "
          "floor (stop) | honcho (stop) | zmqrun (stop) | zmqrun / floor | zmqrun / honcho (stop) | target |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    per_node: dict[int, float] = {}
    stop_per_node: dict[int, float] = {}
    hung: list[str] = []
    for n in sizes:
        print(f"start/stop N={n}", flush=True)
        r = start_stop([Bash(WORK), Floor(WORK), Honcho(WORK), Zmqrun(WORK)], n, reps)
        b, h, z = (statistics.median(r[k]["start"]) for k in ("bash &", "honcho", "zmqrun"))
        fs, hs, zs = (statistics.median(r[k]["stop"]) for k in ("kill-all & wait", "honcho", "zmqrun"))
        honcho_stop[n] = r["honcho"]["stop"]
        limit = 1.5 if n <= 4 else 1.1
        hlimit = 0.8 if n <= 4 else 1.0
        per_node[n], stop_per_node[n] = z / n, zs / n
        for name, res in r.items():
            if res.get("hung"):
                hung.append(f"{name} did not stop within 60 s in {len(res['hung'])} of {reps} runs at N={n} "
                            "(left out of its median)")  # fmt: skip
        md.append(f"| {n} | {cell(r['bash &']['start'])} | {cell(r['honcho']['start'])} | {cell(r['zmqrun']['start'])} "
                  f"| {z / b:.2f}x | {z / h:.2f}x | ≤ {limit}x bash, ≤ {hlimit}x honcho: {verdict(z / b <= limit and z / h <= hlimit)} "
                  f"| {cell(r['kill-all & wait']['stop'], 'ms', 1000)} | {cell(r['honcho']['stop'], 'ms', 1000)} "
                  f"| {cell(r['zmqrun']['stop'], 'ms', 1000)} | {zs / fs:.2f}x | {zs / hs:.2f}x "
                  f"| ≤ 1.1x floor, ≤ 0.5x honcho: {verdict(zs / fs <= 1.1 and zs / hs <= 0.5)} |")  # fmt: skip
    md.append("")
    if hung:
        md += ["Hangs: " + "; ".join(hung) + ".", ""]
    if 16 in per_node and 200 in per_node:
        ratio, sratio = per_node[200] / per_node[16], stop_per_node[200] / stop_per_node[16]
        md += [f"Scale: start-up per node at 200 is {ratio:.2f}x that at 16 (target ≤ 1.2x: {verdict(ratio <= 1.2)}); "
               f"stop per node at 200 is {sratio:.2f}x that at 16.", ""]  # fmt: skip
    return md


def chatty_section(lines: int, reps: int) -> list[str]:
    md = ["## 3. Chatty nodes: log relay and `buffering`", "",
          f"Each node prints {lines:,} lines of about 60 bytes as fast as it can, one `print()` each "
          "(`benchmarks/talker.py`). Baselines: the same nodes writing straight to files (bash `&`, `> file`), and the "
          "same again flushing every line (`print(..., flush=True)`: the node's own cost of line buffering, with no "
          "relay at all), and the nodes each on a pseudo-terminal read by the barest relay (`benchmarks/ptyfloor.py`: "
          "read, write each chunk to a file: what a terminal costs a node under the simplest relay). zmqrun runs each `buffering` "
          "setting with colour prefixes on (`--color`), stdout to a file; "
          "every line is verified present, whole (checksum) and in per-node order. `PYTHONUNBUFFERED` is removed from "
          "the harness's environment, so only `buffering` decides.", "",
          "| nodes | straight to file | flushed per line, to file | bare pty relay | zmqrun `line` (default) "
          "| zmqrun `full` | zmqrun `unbuffered` | honcho | zmqrun, nodes printing nothing | zmqrun peak RSS |",
          "|---|---|---|---|---|---|---|---|---|---|",
          ]  # fmt: skip
    ratios: dict[int, dict[str, float]] = {}
    fixed: dict[int, float] = {}
    files: dict[int, float] = {}
    for nodes in (1, 4):
        print(f"chatty nodes={nodes}", flush=True)
        r = chatty(nodes, lines, reps, max(1, reps // 3))
        f = files[nodes] = statistics.median(r["file"])
        ratios[nodes] = {k: statistics.median(r[k]) / f for k in ("flushed", "ptyfloor", *MODES)}
        fixed[nodes] = statistics.median(r["quiet"])

        def rel(k: str, r: dict[str, list[float]] = r, f: float = f) -> str:
            return f"{cell(r[k])}, **{statistics.median(r[k]) / f:.2f}x**"

        md.append(f"| {nodes} | {cell(r['file'])} | {rel('flushed')} | {rel('ptyfloor')} | {rel('line')} | {rel('full')} "
                  f"| {rel('unbuffered')} "
                  f"| {rel('honcho')} | {cell(r['quiet'])} | {max(r['peak_mb']):.0f} MB |")  # fmt: skip
    md += ["", "Targets: the default ≤ 1.5x of straight to file: "
           + ", ".join(f"{n} node{'s' if n > 1 else ''} {verdict(ratios[n]['line'] <= 1.5)} ({ratios[n]['line']:.2f}x)" for n in ratios)
           + "; `buffering: full` ≤ 1.2x: "
           + ", ".join(f"{n} node{'s' if n > 1 else ''} {verdict(ratios[n]['full'] <= 1.2)} ({ratios[n]['full']:.2f}x)" for n in ratios)
           + " (less zmqrun's fixed cost, the run of nodes printing nothing: "
           + ", ".join(f"{(ratios[n]['full'] * files[n] - fixed[n]) / files[n]:.2f}x" for n in ratios)
           + "); `line` against the bare pty relay: "
           + ", ".join(f"{n} node{'s' if n > 1 else ''} {ratios[n]['line'] / ratios[n]['ptyfloor']:.2f}x" for n in ratios)
           + ".", ""]  # fmt: skip
    md += ["What each setting does to a node's lines: latency from the node's `print` to zmqrun's output (a line every "
           "10 ms, median over 100 lines, median of runs), lines kept of 1,000 printed just before the node is killed "
           "by SIGKILL, and what `sys.stdout.isatty()` says in the node.", "",
           "| output | latency of a line | kept through SIGKILL | node sees a terminal |", "|---|---|---|---|"]  # fmt: skip
    direct = direct_behaviour()
    md.append(f"| straight to file | - | {direct['kept']} of 1000 | {direct['isatty']} |")
    for mode in MODES:
        print(f"behaviour {mode}", flush=True)
        b = behaviour(mode, max(3, reps // 2))
        md.append(f"| zmqrun `{mode}` | {cell(b['latency'], 'ms', digits=1)} | {b['kept']} of 1000 | {b['isatty']} |")  # type: ignore[arg-type]
    md.append("")
    return md


def many_section(big: int, reps: int) -> list[str]:
    print(f"many nodes: 16 and {big}", flush=True)
    r = many((16, big), reps)
    per = {n: {k: statistics.median(r[n][k]) / n for k in ("start", "stop")} for n in r}
    mem = (statistics.median(r[big]["pss"]) - statistics.median(r[16]["pss"])) / (big - 16)
    return ["## 7. Many nodes", "",
            f"16 and {big} light nodes (`/bin/sh -c 'echo up $ZMQRUN_REPLICA; exec sleep 600'`, ready when their line "
            "is relayed), so that the nodes' own start-up does not hide zmqrun's. Start: from launching zmqrun to its "
            "\"all N processes ready\"; every node's line is verified relayed. Stop: Ctrl-C until zmqrun has exited and "
            "every node is gone. Memory: zmqrun's own PSS (zmqrun and its guardian) when all are ready.", "",
            "| N | start | start per node | stop | stop per node | zmqrun memory |", "|---|---|---|---|---|---|",
            *[f"| {n} | {cell(r[n]['start'])} | {per[n]['start'] * 1000:.2f} ms | {cell(r[n]['stop'])} "
              f"| {per[n]['stop'] * 1000:.2f} ms | {cell(r[n]['pss'], 'MB', digits=1)} |" for n in r], "",
            f"Per node at {big} against 16: start-up {per[big]['start'] / per[16]['start']:.2f}x, stop "
            f"{per[big]['stop'] / per[16]['stop']:.2f}x (target ≤ 1.2x: "
            f"{verdict(per[big]['start'] / per[16]['start'] <= 1.2 and per[big]['stop'] / per[16]['stop'] <= 1.2)}); "
            f"zmqrun's memory grows by {mem * 1000:.0f} KB per node.", ""]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
