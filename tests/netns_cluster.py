"""A stand-in for a Kubernetes cluster, for tests: each pod of an exported manifest runs in its
own Linux network namespace with its own address on a private bridge, names resolve through a
hosts file per namespace (as cluster DNS would answer), and each container runs the manifest's
command and environment with the local Python in place of the image. Needs root."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


class Pod(NamedTuple):
    name: str  # the pod's own name (and hostname)
    labels: dict[str, str]
    annotations: dict[str, str]
    subdomain: str | None  # the headless Service that gives it `name.subdomain`
    container: dict[str, Any]


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


def pods(docs: list[dict[str, Any]]) -> list[Pod]:
    """The pods each controller would create, with the labels and annotations it would add."""
    out = []
    for doc in docs:
        kind, name, spec = doc["kind"], doc["metadata"]["name"], doc.get("spec", {})
        if kind not in ("Deployment", "StatefulSet", "Job"):
            continue
        template = spec["template"]
        labels = dict(template["metadata"].get("labels", {}))
        container = template["spec"]["containers"][0]
        count = spec.get("completions", spec.get("replicas", 1))
        for i in range(count):
            if kind == "StatefulSet":
                out.append(Pod(f"{name}-{i}", {**labels, "apps.kubernetes.io/pod-index": str(i)}, {},
                               spec.get("serviceName"), container))  # fmt: skip
            elif kind == "Job" and spec.get("completionMode") == "Indexed":
                out.append(Pod(f"{name}-{i}", labels, {"batch.kubernetes.io/job-completion-index": str(i)},
                               template["spec"].get("subdomain"), container))  # fmt: skip
            else:
                out.append(Pod(f"{name}-{kind.lower()}-{i}", labels, {}, None, container))  # no DNS name of its own
    return out


def hosts(docs: list[dict[str, Any]], addresses: dict[str, str], all_pods: list[Pod]) -> str:
    """/etc/hosts lines answering as cluster DNS would: a Service's name gives its pods
    (one pod here stands for a ClusterIP), and `pod.service` each pod of a headless Service."""
    lines = ["127.0.0.1 localhost"]
    for doc in docs:
        if doc["kind"] != "Service":
            continue
        service, selector = doc["metadata"]["name"], doc["spec"]["selector"]
        chosen = [p for p in all_pods if all(p.labels.get(k) == v for k, v in selector.items())]
        lines += [f"{addresses[p.name]} {service}" for p in chosen]
        lines += [f"{addresses[p.name]} {p.name}.{service}" for p in chosen if p.subdomain == service]
    return "\n".join(lines) + "\n"


def environment(pod: Pod) -> dict[str, str]:
    """The container's environment as the kubelet builds it (values, downward API, $(VAR))."""
    env = {"PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
           "HOSTNAME": pod.name}  # fmt: skip
    for item in pod.container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
        else:
            path = item["valueFrom"]["fieldRef"]["fieldPath"]
            m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
            assert m, f"this stand-in does not know fieldPath {path}"
            env[item["name"]] = (pod.labels if m.group(1) == "labels" else pod.annotations)[m.group(2)]
    return env


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's $(VAR) expansion: defined variables are replaced, `$$` is one `$`."""
    return VAR.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


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
        self.volumes: list[Path] = []
        _ip("link", "add", self.bridge, "type", "bridge")
        try:
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

    def run(self, docs: list[dict[str, Any]], secrets: list[dict[str, Any]] = ()) -> list[Pod]:  # type: ignore[assignment]
        """Give every pod a namespace and a hosts file, then start them all at once, in reverse
        order (connecters before binders), as nothing in Kubernetes orders them. Secret volumes
        (from `secrets`) are laid out as the kubelet does and their mountPath pointed there."""
        all_pods = [self._mount(pod, docs, list(secrets)) for pod in pods(docs)]
        spaces = {}
        addresses = {}
        for i, pod in enumerate(all_pods):
            spaces[pod.name], addresses[pod.name] = self.add(i)
        table = hosts(docs, addresses, all_pods)
        for pod in all_pods:
            etc = Path("/etc/netns") / spaces[pod.name]
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(table)
        for pod in reversed(all_pods):
            self.start(pod, spaces[pod.name])
        return all_pods

    def _mount(self, pod: Pod, docs: list[dict[str, Any]], secrets: list[dict[str, Any]]) -> Pod:
        """The kubelet's secret volume, imitated: a 1777 directory whose entries are symlinks
        through `..data` to files of the volume's defaultMode; read-only paths are rewritten."""
        mounts = pod.container.get("volumeMounts", [])
        if not mounts:
            return pod
        spec = next(d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")
                    and d["metadata"]["name"] == pod.labels["app.kubernetes.io/name"])["spec"]["template"]["spec"]  # fmt: skip
        volumes = {v["name"]: v for v in spec["volumes"]}
        words = list(pod.container["command"])
        for m in mounts:
            source = volumes[m["name"]]["secret"]
            secret = next(d for d in secrets if d["metadata"]["name"] == source["secretName"])
            root = Path(f"/tmp/zrvol{self.tag}") / pod.name / m["name"]
            stamped = root / "..2026_01_01_00_00_00.000000001"
            stamped.mkdir(parents=True)
            self.volumes.append(root.parent)
            for key, value in secret["stringData"].items():
                (stamped / key).write_text(value)
                os.chmod(stamped / key, source["defaultMode"])
                os.symlink(f"..data/{key}", root / key)
            os.symlink(stamped.name, root / "..data")
            os.chmod(root, 0o1777)
            words = [w.replace(m["mountPath"], str(root)) for w in words]
        return pod._replace(container={**pod.container, "command": words})

    def start(self, pod: Pod, ns: str) -> subprocess.Popen[bytes]:
        """The pod's container in namespace `ns`; its output is gathered line by line."""
        env = environment(pod)
        argv = [expand(word, env) for word in pod.container["command"] + pod.container.get("args", [])]
        proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], env=env, cwd=ROOT,
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
        for volume in self.volumes:
            shutil.rmtree(volume, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=10, check=False)


def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.close()
