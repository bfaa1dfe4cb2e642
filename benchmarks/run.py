"""Run every benchmark and write BENCHMARKS.md. Usage (from the repository root):

    .venv/bin/python benchmarks/run.py [--reps 5] [--sizes 4,16,64,200] [--out BENCHMARKS.md] [--only idle|dataplane]

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
            results[la.name]["stop"].append(ctrl_c(proc, ports, la.name))
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


# ---- log relay -------------------------------------------------------------------------------

LINE = re.compile(r"(t\d+) (\d{7}) (the quick brown fox jumps over the lazy) ([0-9a-f]{8})$")


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


def relay(nodes: int, count: int, reps: int, honcho: bool) -> dict[str, list[float]]:
    names = [f"t{i}" for i in range(nodes)]
    talk = [PY, str(HERE / "talker.py")]
    out = {"file": [], "zmqrun": [], "honcho": [], "zmqrun_peak_mb": []}
    topo = WORK / "relay.yaml"
    topo.write_text("nodes:\n" + "".join(f"  {n}:\n    run: {json.dumps(talk + [n, str(count)])}\n" for n in names))
    procfile = WORK / "Procfile.relay"
    procfile.write_text("".join(f"{n}: {' '.join(talk)} {n} {count}\n" for n in names))
    script = WORK / "relay.sh"
    script.write_text("".join(f"{' '.join(talk)} {n} {count} > {WORK}/direct-{n}.txt &\n" for n in names) + "wait\n")
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run(["bash", str(script)], check=True)
        out["file"].append(time.perf_counter() - t0)
        for n in names:
            assert verify(WORK / f"direct-{n}.txt", [n], count) is None
        target = WORK / "relay-zmqrun.txt"
        with open(target, "wb") as f:
            t0 = time.perf_counter()
            proc = subprocess.Popen([PY, "-m", "orchestrator", "--color", str(topo)], stdout=f, start_new_session=True)
            peak = 0.0
            while proc.poll() is None:
                try:
                    peak = max(peak, psutil.Process(proc.pid).memory_info().rss)
                except psutil.NoSuchProcess:
                    break
                time.sleep(0.01)
            out["zmqrun"].append(time.perf_counter() - t0)
            out["zmqrun_peak_mb"].append(peak / 1e6)
        problem = verify(target, names, count)
        if problem:
            raise RuntimeError(f"zmqrun relay lost or broke lines: {problem}")
        if honcho:
            target = WORK / "relay-honcho.txt"
            with open(target, "wb") as f:
                t0 = time.perf_counter()
                subprocess.run([honcho_bin(WORK), "-f", str(procfile), "start"], stdout=f, check=False)
                out["honcho"].append(time.perf_counter() - t0)
    return out


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sizes", default="4,16,64,200")
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--only", choices=["dataplane", "idle"], help="re-measure one section and replace it in --out")
    args = ap.parse_args()
    if args.only:
        if args.only == "idle":
            WORK.mkdir(exist_ok=True)
            honcho_bin(WORK)
        section = dataplane_section(max(args.reps, 9)) if args.only == "dataplane" else idle_section(args.reps)
        section.insert(2, f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `benchmarks/run.py --only {args.only}`; "
                       "the other sections come from the full run dated above.\n")  # fmt: skip
        out = Path(args.out)
        out.write_text(replace_section(out.read_text(), section))
        print(f"wrote {section[0].lstrip('# ')} to {args.out}")
        return 0
    WORK.mkdir(exist_ok=True)
    honcho_bin(WORK)
    sizes = [int(x) for x in args.sizes.split(",")]
    md = ["# zmqrun benchmarks", "", "Reproduce: `.venv/bin/python benchmarks/run.py` (after the README's first set-up "
          "command; honcho is installed into `benchmarks/.work/`).", "", "## Machine", "", *machine(), ""]  # fmt: skip

    md += ["## 1. Start-up to all-ready, 2. Stop, 6. Scale", "",
           "Start-up: from launching the command until every node's port listens. Stop: from Ctrl-C (SIGINT to the "
           "launcher's foreground process group, as a terminal sends it) until the launcher has exited, every node is "
           "gone and every port is free. Nodes are `benchmarks/node.py`: a pyzmq PUB bound to a fixed port; "
           "cooperative ones exit on SIGINT.", "",
           "| N | bash & (start) | honcho (start) | zmqrun (start) | zmqrun / bash | zmqrun / honcho | target | "
           "honcho (stop) | zmqrun (stop) | zmqrun / honcho (stop) | target |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    per_node: dict[int, float] = {}
    honcho_stop: dict[int, list[float]] = {}
    stop_per_node: dict[int, float] = {}
    for n in sizes:
        print(f"start/stop N={n}", flush=True)
        r = start_stop([Bash(WORK), Honcho(WORK), Zmqrun(WORK)], n, args.reps)
        b, h, z = (statistics.median(r[k]["start"]) for k in ("bash &", "honcho", "zmqrun"))
        hs, zs = statistics.median(r["honcho"]["stop"]), statistics.median(r["zmqrun"]["stop"])
        honcho_stop[n] = r["honcho"]["stop"]
        limit = 1.5 if n <= 4 else 1.15
        per_node[n], stop_per_node[n] = z / n, zs / n
        md.append(f"| {n} | {cell(r['bash &']['start'])} | {cell(r['honcho']['start'])} | {cell(r['zmqrun']['start'])} "
                  f"| {z / b:.2f}x | {z / h:.2f}x | ≤ {limit}x bash, < honcho: {verdict(z / b <= limit and z < h)} "
                  f"| {cell(r['honcho']['stop'], 'ms', 1000)} | {cell(r['zmqrun']['stop'], 'ms', 1000)} | {zs / hs:.2f}x "
                  f"| ≤ 0.5x: {verdict(zs / hs <= 0.5)} |")  # fmt: skip
    md.append("")
    if 16 in per_node and 200 in per_node:
        ratio, sratio = per_node[200] / per_node[16], stop_per_node[200] / stop_per_node[16]
        md += [f"Scale: start-up per node at 200 is {ratio:.2f}x that at 16 (target ≤ 1.2x: {verdict(ratio <= 1.2)}); "
               f"stop per node at 200 is {sratio:.2f}x that at 16.", ""]  # fmt: skip

    md += ["### Stop with `stop_signal: SIGTERM`", "",
           "On Ctrl-C honcho's nodes get SIGINT from the terminal and honcho sends SIGTERM at once; a Python node "
           "killed by SIGTERM's default action skips its own clean-up and interpreter shutdown. zmqrun's default "
           "(SIGINT, then a grace period) lets every node run its `except KeyboardInterrupt` clean-up, and on two "
           "cores that clean-up CPU, not zmqrun, sets the pace at 16 nodes and more. The same topology with "
           "`stop_signal: SIGTERM`:", "",
           "| N | honcho (stop) | zmqrun, SIGTERM (stop) | ratio | target ≤ 0.5x |", "|---|---|---|---|---|"]  # fmt: skip
    for n in sizes:
        print(f"stop with SIGTERM N={n}", flush=True)
        t = zmqrun_stop(n, args.reps, 3.0, stubborn=False, stop_signal="SIGTERM")
        ratio = statistics.median(t) / statistics.median(honcho_stop[n])
        md.append(f"| {n} | {cell(honcho_stop[n], 'ms', 1000)} | {cell(t, 'ms', 1000)} | {ratio:.2f}x | {verdict(ratio <= 0.5)} |")
    md.append("")

    md += ["### Stubborn nodes", "", "Nodes ignore SIGINT and SIGTERM; grace 1 s. Target: total ≤ grace + 0.5 s, whatever N.", "",
           "| N | zmqrun stop | target |", "|---|---|---|"]  # fmt: skip
    for n in [x for x in sizes if x in (16, 64)] or sizes[:1]:
        print(f"stubborn N={n}", flush=True)
        t = zmqrun_stop(n, args.reps, 1.0, stubborn=True)
        md.append(f"| {n} | {cell(t)} | ≤ 1.5 s: {verdict(statistics.median(t) <= 1.5)} |")
    md.append("")

    md += ["## 3. Log relay", "", f"Each node prints {args.lines:,} lines of about 60 bytes as fast as it can. Baseline: "
           "the same nodes writing straight to files (bash `&`, `> file`). zmqrun runs with colour prefixes on "
           "(`--color`), stdout to a file; every line is verified present, whole (checksum) and in per-node order.", "",
           "| nodes | straight to file | zmqrun | zmqrun / file | target | honcho | honcho / zmqrun | zmqrun peak RSS |",
           "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for nodes in (1, 4):
        print(f"relay nodes={nodes}", flush=True)
        r = relay(nodes, args.lines, args.reps, honcho=True)
        f, z, h = (statistics.median(r[k]) for k in ("file", "zmqrun", "honcho"))
        md.append(f"| {nodes} | {cell(r['file'])} | {cell(r['zmqrun'])} | {z / f:.2f}x | ≤ 1.2x: {verdict(z / f <= 1.2)} "
                  f"| {cell(r['honcho'])} | {h / z:.1f}x | {max(r['zmqrun_peak_mb']):.0f} MB |")  # fmt: skip
    md.append("")

    md += idle_section(args.reps)

    md += dataplane_section(max(args.reps, 9))
    out = Path(args.out)
    kept = ""
    if out.exists() and ASSESSMENT in out.read_text():  # the hand-written reading of the figures stays
        kept = out.read_text()[out.read_text().index(ASSESSMENT):]
    out.write_text("\n".join(md) + "\n" + kept)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
