"""Handshake failures, from the node helper to zmqrun: one short line each on the helper's pipe,
throttled at the source, checked and put into words at the other end (the line is untrusted)."""

from __future__ import annotations

import re
from typing import NamedTuple

# libzmq's monitor events and protocol error codes (stable since 4.3; pyzmq has the same values)
FAILED_NO_DETAIL, FAILED_PROTOCOL, FAILED_AUTH = 0x0800, 0x2000, 0x4000
FAILED_EVENTS = FAILED_NO_DETAIL | FAILED_PROTOCOL | FAILED_AUTH
ERR_CRYPTOGRAPHIC, ERR_MECHANISM_MISMATCH = 0x11000001, 0x11000002

PREFIX = "handshake-failed"
EVERY = 5.0  # seconds between two reports of the same failure; a retrying client must not flood
_LINE = re.compile(rf"^{PREFIX} ([A-Za-z][A-Za-z0-9_]{{0,62}}) (\d{{1,10}}) (\d{{1,10}}) (\d{{1,9}}) (\S{{1,300}})$")


class Failure(NamedTuple):
    socket: str
    event: int
    value: int
    times: int  # how many since the last report
    endpoint: str


def encode(f: Failure) -> bytes:
    return f"{PREFIX} {f.socket} {f.event} {f.value} {f.times} {f.endpoint}\n".encode("ascii", "replace")


def decode(line: str) -> Failure | None:
    m = _LINE.match(line.strip())
    if not m:
        return None
    return Failure(m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4)), m.group(5))


def reason(event: int, value: int) -> str:
    if event == FAILED_AUTH:
        return f"the peer's key is not one of this run's, so it was refused (ZAP status {value})"
    if event == FAILED_PROTOCOL and value == ERR_MECHANISM_MISMATCH:
        return "the peer does not speak CURVE (a plain NULL client?), so it was refused"
    if event == FAILED_PROTOCOL and value == ERR_CRYPTOGRAPHIC:
        return "the peer's CURVE hello did not decrypt (a client with the wrong server key?), so it was refused"
    if event == FAILED_PROTOCOL:
        return f"ZMTP protocol error 0x{value:08x}"
    import os

    why = os.strerror(value) if value > 0 else "no detail"
    return f"the peer broke off the handshake ({why}): a client without this run's CURVE keys?"


def describe(label: str, f: Failure) -> str:
    times = f" ({f.times} times since the last report)" if f.times > 1 else ""
    return f"handshake failed on {label} {f.socket} ({f.endpoint}): {reason(f.event, f.value)}; nothing it sent was delivered{times}"


class Throttle:
    """The first failure of a kind at once, then at most one report per `every` seconds with a count."""

    def __init__(self, every: float = EVERY):
        self.every = every
        self._last: dict[tuple[str, int, int], float] = {}
        self._held: dict[tuple[str, int, int], int] = {}

    def count(self, key: tuple[str, int, int], now: float) -> int:
        """How many failures to report now (0: hold this one back)."""
        self._held[key] = self._held.get(key, 0) + 1
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            return 0
        self._last[key] = now
        return self._held.pop(key)
