"""A container's command line: the node's argv run directly, or through a few words of POSIX
shell when the container must learn its replica number at start or be fed lines on stdin."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from orchestrator.export.workloads import REPLICA_MARK, Launch

INDEX_VAR = "ZMQRUN_INDEX"  # the engine's 0-based replica index, given to the container


def needs_shell(launch: Launch, indexed: bool, prelude: Sequence[str] = ()) -> bool:
    return indexed or launch.stdin is not None or bool(prelude)


def command(launch: Launch, indexed: bool, prelude: Sequence[str] = ()) -> list[str]:
    """argv for the container. `indexed`: the replica number is ZMQRUN_INDEX + 1, computed at
    start (the launch is a template holding REPLICA_MARK); `prelude`: shell lines run next (the
    CURVE keys, export/curve.py); exec keeps the node as PID 1."""
    if not needs_shell(launch, indexed, prelude):
        return list(launch.argv)
    lines = []
    if indexed:
        lines.append(f"ZMQRUN_REPLICA=$(({INDEX_VAR} + 1)); export ZMQRUN_REPLICA")
    lines.extend(prelude)
    words = " ".join(_word(w) for w in launch.argv)
    if launch.stdin is None:
        lines.append(f"exec {words}")
    else:
        fed = [part for line in launch.stdin for part in line.split("\n")]
        end = "ZMQRUN_STDIN"
        while end in fed:
            end += "_"
        lines.append(f"exec {words} <<'{end}'")  # quoted: the lines are fed as they are
        lines.extend(fed)
        lines.append(end)
    return ["/bin/sh", "-c", "\n".join(lines)]


def _word(word: str) -> str:
    mark = str(REPLICA_MARK)
    return '"$ZMQRUN_REPLICA"'.join(shlex.quote(part) if part else "" for part in word.split(mark)) or "''"
