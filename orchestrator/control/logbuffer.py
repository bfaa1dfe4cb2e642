"""The recent output of each instance, kept in memory for `zmqrun logs`: per instance at most
LINES lines and CHARS characters (whichever is reached first), oldest dropped first."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

LINES = 5000
CHARS = 1 << 20  # 1 MiB of text per instance; lines are already cut at printer.MAX_LINE


class LogBuffer:
    """Keeps whole chunks of lines as they were relayed: one append per chunk on the hot path."""

    def __init__(self) -> None:
        self._chunks: dict[str, deque[tuple[float, list[str], int]]] = {}
        self._size: dict[str, list[int]] = {}  # label -> [lines, chars]

    def add(self, label: str, lines: list[str], now: float | None = None) -> float:
        stamp = time.time() if now is None else now
        chars = sum(map(len, lines))
        chunks = self._chunks.get(label)
        if chunks is None:
            chunks = self._chunks[label] = deque()
            self._size[label] = [0, 0]
        size = self._size[label]
        chunks.append((stamp, lines, chars))
        size[0] += len(lines)
        size[1] += chars
        while len(chunks) > 1 and (size[0] > LINES or size[1] > CHARS):
            _, old, old_chars = chunks.popleft()
            size[0] -= len(old)
            size[1] -= old_chars
        if size[0] > LINES or size[1] > CHARS:  # one chunk over the bound on its own: keep its tail
            keep, total = [], 0
            for line in reversed(lines[-LINES:]):
                if total + len(line) > CHARS:
                    break
                keep.append(line)
                total += len(line)
            keep.reverse()
            chunks[0] = (stamp, keep, total)
            size[0], size[1] = len(keep), total
        return stamp

    def lines(self, labels: list[str], tail: int | None = None, since: float | None = None) -> list[tuple[float, str, str]]:
        """(time, label, line) of the given instances, oldest first; the last `tail` per instance."""
        found: list[tuple[float, str, str]] = []
        for label in labels:
            if tail == 0:
                continue
            mine = list(self._iter(label, since))
            found.extend(mine[-tail:] if tail is not None else mine)
        found.sort(key=lambda item: item[0])  # stable: each instance's own order is kept
        return found

    def _iter(self, label: str, since: float | None) -> Iterator[tuple[float, str, str]]:
        for stamp, lines, _ in self._chunks.get(label, ()):
            if since is None or stamp >= since:
                for line in lines:
                    yield stamp, label, line
