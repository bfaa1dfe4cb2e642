"""The three ways to start N nodes that the benchmarks compare: plain bash with `&` (the
floor), honcho from a Procfile, and zmqrun from a topology. Same node command for all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from orchestrator.run.ports import listening_ports

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"


def bench_python() -> str:
    """A Python with zmqrun installed as users install it (`pip install .`, not editable), made
    on first use; it runs zmqrun and every node, whichever launcher starts them."""
    venv = WORK / "zmqrun-venv"
    exe = venv / "bin" / "python"
    stamp = venv / "installed-from"
    source = str(HERE.parent)
    if not exe.exists() or not stamp.exists() or stamp.read_text() != _tree_stamp():
        WORK.mkdir(exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", source], check=True)
        stamp.write_text(_tree_stamp())
    return str(exe)


def _tree_stamp() -> str:
    """Changes whenever the package's sources do, so a stale install is rebuilt."""
    import hashlib

    h = hashlib.sha256()
    for path in sorted((HERE.parent / "orchestrator").rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


PY = bench_python() if __name__ != "__main__" else sys.executable


def node_cmd(port: int, stubborn: bool = False, sub: int | None = None) -> list[str]:
    return [PY, str(HERE / "node.py"), str(port)] + (["stubborn"] if stubborn else []) + ([f"sub:{sub}"] if sub else [])


def honcho_bin(work: Path) -> str:
    """honcho, installed on first use into its own environment beside the results."""
    venv = work / "honcho-venv"
    exe = venv / "bin" / "honcho"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "honcho==2.0.0"], check=True)
    return str(exe)


class Launcher:
    name = ""

    def __init__(self, work: Path):
        self.work = work

    def command(self, ports: list[int], stubborn: bool, grace: float) -> list[str]:
        raise NotImplementedError

    def start(self, ports: list[int], stubborn: bool = False, grace: float = 1.0, out: int | None = None) -> subprocess.Popen[bytes]:
        cmd = self.command(ports, stubborn, grace)
        return subprocess.Popen(cmd, cwd=self.work, stdout=out if out is not None else subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


class Bash(Launcher):
    name = "bash &"

    def command(self, ports: list[int], stubborn: bool, grace: float) -> list[str]:
        script = self.work / "start.sh"
        script.write_text("".join(" ".join(node_cmd(p, stubborn)) + " &\n" for p in ports) + "wait\n")
        return ["bash", str(script)]


class Floor(Launcher):
    """What any launcher must at least do to stop cooperative nodes: signal each, wait for each."""

    name = "kill-all & wait"

    def command(self, ports: list[int], stubborn: bool, grace: float) -> list[str]:
        assert not stubborn, "the floor is for cooperative nodes"
        return [PY, str(HERE / "floor.py"), PY, str(HERE / "node.py"), "--", *map(str, ports)]


class Honcho(Launcher):
    name = "honcho"

    def command(self, ports: list[int], stubborn: bool, grace: float) -> list[str]:
        procfile = self.work / "Procfile"
        procfile.write_text("".join(f"n{i}: {' '.join(node_cmd(p, stubborn))}\n" for i, p in enumerate(ports)))
        return [honcho_bin(self.work), "-f", str(procfile), "--no-colour", "start"]


class Zmqrun(Launcher):
    name = "zmqrun"

    def __init__(self, work: Path, stop_signal: str | None = None, edges: bool = False,
                 buffering: str | None = None):
        super().__init__(work)
        self.stop_signal = stop_signal
        self.edges = edges  # each node also dials the next one's PUB: a ring of quiet edges to watch
        self.buffering = buffering
        if edges:
            self.name = "zmqrun, 16 edges watched"
        elif buffering:
            self.name = f"zmqrun ({buffering})"

    def command(self, ports: list[int], stubborn: bool, grace: float) -> list[str]:
        topo = self.work / "bench.yaml"
        lines = [f"grace: {grace}s"] + ([f"buffering: {self.buffering}"] if self.buffering else []) + ["nodes:"]
        for i, p in enumerate(ports):
            nxt = (i + 1) % len(ports)
            words = ", ".join(f"'{w}'" for w in node_cmd(p, stubborn, ports[nxt] if self.edges else None))
            lines += [f"  n{i}:", f"    run: [{words}]", "    sockets:", f"      s: {{type: PUB, bind: {p}}}"]
            if self.edges:
                lines.append(f"      r: {{type: SUB, connect: n{nxt}.s}}")
            if self.stop_signal:
                lines.append(f"    stop_signal: {self.stop_signal}")
        topo.write_text("\n".join(lines) + "\n")
        return [PY, "-m", "orchestrator", "--no-color", str(topo)]  # the installed package, not this tree


def wait_until(predicate, timeout: float, interval: float = 0.001) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def tree_pids(pid: int) -> list[int]:
    try:
        return [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def kill_all(proc: subprocess.Popen[bytes], pids: list[int]) -> None:
    """Harness cleanup between trials: the launcher's group and every pid it had, by PID."""
    for pid in set(pids + tree_pids(proc.pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def ports_free(ports: list[int]) -> bool:
    return not (set(ports) & listening_ports())
