"""CPU of one edge sample: 16 benchmark nodes in a ring (each binds a PUB, dials the next with a
SUB: 16 quiet tcp edges), sampled by EdgeWatch.tick() in a loop, as the supervisor calls it.

    .venv/bin/python benchmarks/edge_sample.py [SAMPLES]

Prints the CPU (user + system of this thread) per sample: the whole tick, and the kernel view
(netlink round trip and reading the replies) alone. A hot loop: inside a run, where each sample meets a cold
cache, a sample costs two to three times this (see README, Edges)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from orchestrator.edges.watch import EdgeWatch
from orchestrator.run.plan import make_plan
from orchestrator.run.ports import PortAllocator
from orchestrator.run.state import Proc
from orchestrator.topology.validate import load_topology

N = 16
HERE = Path(__file__).resolve().parent


class Pid:
    def __init__(self, pid: int):
        self.pid = pid


def per_call(fn, reps: int) -> float:
    start = time.thread_time_ns()
    for _ in range(reps):
        fn()
    return (time.thread_time_ns() - start) / reps / 1000


def main() -> int:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    ports = [PortAllocator(30000, 39999).take() for _ in range(N)]
    work = Path(tempfile.mkdtemp(prefix="edge-sample-"))
    lines = ["nodes:"]
    for i, p in enumerate(ports):
        lines += [f"  n{i}:", "    run: [x]", "    sockets:", f"      s: {{type: PUB, bind: {p}}}",
                  f"      r: {{type: SUB, connect: n{(i + 1) % N}.s}}"]  # fmt: skip
    (work / "ring.yaml").write_text("\n".join(lines) + "\n")
    plan = make_plan(load_topology(str(work / "ring.yaml")), "zr-bench", PortAllocator(30000, 39999), str(work))
    kids = [subprocess.Popen([sys.executable, str(HERE / "node.py"), str(p), f"sub:{ports[(i + 1) % N]}"])
            for i, p in enumerate(ports)]  # fmt: skip
    procs = []
    for inst, kid in zip(plan.instances, kids, strict=True):
        p = Proc(inst)
        p.spawned, p.state = Pid(kid.pid), "ready"  # type: ignore[assignment]
        procs.append(p)
    watch = EdgeWatch(plan, lambda _: None, 3.0)
    try:
        clock = [100.0]

        def tick() -> None:
            watch.tick(procs, clock[0])
            clock[0] += 3.0

        deadline = time.monotonic() + 30
        while not all(st is not None and st.connected for st in watch.states):
            assert time.monotonic() < deadline, "the ring did not connect within 30 s"
            tick()
            time.sleep(0.1)
        for _ in range(20):
            tick()
        view = watch.sample.__self__  # type: ignore[attr-defined]
        pids = {p.label: p.spawned.pid for p in procs}  # type: ignore[union-attr]
        whole = per_call(tick, reps)
        kernel = per_call(lambda: view.sample(pids, clock[0]), reps)
        print(f"{N} quiet tcp edges, {reps} samples: {whole:.0f} us per sample (the kernel view {kernel:.0f} us); "
              f"{whole * 10 / 3 / 1000:.2f} ms per 10 s at one sample every 3 s")  # fmt: skip
    finally:
        for kid in kids:
            kid.kill()
            kid.wait()
        watch.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
