"""What a user names on the command line (`worker`, `worker.2`) turned into instance labels,
with "did you mean" for a name that is not in the topology."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from orchestrator.errors import ExitStatus, ZmqrunError


class UnknownTarget(ZmqrunError):
    """A node or instance name that the run does not have."""

    status = ExitStatus.INVALID


def select(labels: Sequence[str], words: Iterable[str]) -> list[str]:
    """The labels that `words` name, in run order: NODE means every replica, NODE.N one of them.
    Every unknown word is reported at once."""
    nodes: dict[str, list[str]] = {}
    for label in labels:
        nodes.setdefault(label.rpartition(".")[0], []).append(label)
    chosen: set[str] = set()
    bad = []
    for word in words:
        if word in nodes:
            chosen.update(nodes[word])
        elif word in labels:
            chosen.add(word)
        else:
            close = difflib.get_close_matches(word, list(nodes) + list(labels), n=1)
            bad.append(f"no node or instance {word!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if bad:
        raise UnknownTarget("; ".join(bad) + "; this run has: " + ", ".join(nodes))
    return [label for label in labels if label in chosen]
