"""A stand-in for a cluster, for tests: each pod runs in its own Linux network namespace with
its own address on a private bridge, names resolve through a hosts file per namespace (as the
engine's DNS would answer), and files are mounted read-only where the engine would mount them,
in the pod's own mount namespace. Engine-neutral: tests/netns_engines.py turns Kubernetes
manifests or a Compose file into its pods. Needs root."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
# Mounts go under /run, which each pod that has any gets as a tmpfs of its own: the machine's
# own /run (and /run/secrets, which Compose uses) is never written.
SECRETS_ROOT = "/run"
MOUNT = r"""set -e
[ "$(readlink /proc/self/ns/mnt)" != "$1" ] || { echo "mounts refused: no mount namespace of its own" >&2; exit 1; }
shift
mount -t tmpfs -o mode=0755,size=1m zrpod /run
while [ "$1" != -- ]; do
  if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "${2%/*}"; : > "$2"; fi
  mount --bind "$1" "$2"
  mount -o remount,bind,ro "$2"
  shift 2
done
shift
exec "$@"
"""


class Pod(NamedTuple):
    """One container as the harness runs it, whatever engine it came from."""

    name: str  # its own name (and hostname)
    names: tuple[str, ...]  # the DNS names that answer with its address
    argv: list[str]
    env: dict[str, str]
    mounts: tuple[tuple[str, str], ...] = ()  # (host file or directory, path in the pod): read-only


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def netns_unavailable() -> str | None:
    """Why this machine cannot make network namespaces, or None when it can."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"zrprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"cannot make a network namespace here: {getattr(exc, 'stderr', b'') or exc}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10, check=False)
    return None


class Cluster:
    """Namespaces, a bridge and processes, each removed (processes by PID) in close()."""

    def __init__(self) -> None:
        tag = os.getpid() % 100000
        self.tag = tag
        self.bridge = f"zrb{tag}"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.readers: dict[int, threading.Thread] = {}  # by PID
        self.lines: list[tuple[Pod, str]] = []
        self.lock = threading.Lock()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"zrvol{tag}."))  # mounted files live here
        self.host_mnt = os.readlink("/proc/self/ns/mnt")
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("link", "set", self.bridge, "up")
        except subprocess.SubprocessError:
            self.close()
            raise

    def add(self, index: int) -> tuple[str, str]:
        """A namespace with its own address on the bridge; no route leads anywhere else."""
        ns = f"zr{self.tag}-{index}"
        _ip("netns", "add", ns)
        self.namespaces.append(ns)
        outside, inside = f"zrv{self.tag}h{index}", f"zrv{self.tag}p{index}"
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns)
        _ip("-n", ns, "link", "set", inside, "name", "eth0")
        address = f"10.231.{index // 250}.{index % 250 + 2}"
        _ip("-n", ns, "addr", "add", f"{address}/16", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "set", outside, "master", self.bridge, "up")
        return ns, address

    def run(self, pods: list[Pod]) -> list[Pod]:
        """Give every pod a namespace and a hosts file answering each pod's names with its
        address, then start them all at once, in reverse order (connecters before binders):
        nothing orders them."""
        spaces = {}
        lines = ["127.0.0.1 localhost"]
        for i, pod in enumerate(pods):
            spaces[pod.name], address = self.add(i)
            lines += [f"{address} {name}" for name in pod.names]
        for pod in pods:
            etc = Path("/etc/netns") / spaces[pod.name]
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text("\n".join(lines) + "\n")
        for pod in reversed(pods):
            self.start(pod, spaces[pod.name])
        return pods

    def start(self, pod: Pod, ns: str) -> subprocess.Popen[bytes]:
        """The pod's container in namespace `ns`; its output is gathered line by line. `ip netns
        exec` gives it a mount namespace of its own (mounts do not propagate back), where its
        mounts are made on a fresh /run before the command is exec'd (same PID)."""
        argv = list(pod.argv)
        if pod.mounts:
            pairs = []
            for source, target in pod.mounts:
                assert os.path.realpath(target).startswith(SECRETS_ROOT + "/"), f"{target}: mounts go under /run"
                pairs += [source, target]
            argv = ["/bin/sh", "-c", MOUNT, "zrmount", self.host_mnt, *pairs, "--", *argv]
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], env=pod.env, cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        self.procs.append(proc)
        reader = threading.Thread(target=self._read, args=(pod, proc), daemon=True)
        reader.start()
        self.readers[proc.pid] = reader
        return proc

    def _read(self, pod: Pod, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            with self.lock:
                self.lines.append((pod, raw.decode("utf-8", "replace").rstrip("\n")))

    def take_lines(self) -> list[tuple[Pod, str]]:
        with self.lock:
            out, self.lines = self.lines, []
        return out

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for ns in self.namespaces:
            # Anything else left in a namespace we made is ours too; stop it by PID.
            found = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10, check=False)
            for pid in found.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)
        shutil.rmtree(self.scratch, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=10, check=False)
