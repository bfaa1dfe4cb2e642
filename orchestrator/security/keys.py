"""This run's CURVE key pairs: one per instance that has a CURVE socket, made on first use with
zmq.curve_keypair, kept in memory for the plan and the redactor; secrets never in a repr."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import NamedTuple


class KeyPair(NamedTuple):
    public: str  # Z85, 40 characters
    secret: str  # Z85, 40 characters; never printed

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public!r}, secret=<redacted>)"


def _make() -> tuple[bytes, bytes]:
    import zmq

    return zmq.curve_keypair()


class Keyring:
    """Key pairs by instance label; secret keys go to files in `directory` (see store)."""

    def __init__(self, directory: str, make: Callable[[], tuple[bytes, bytes]] | None = None):
        self.directory = directory
        self._make = make or _make
        self.pairs: dict[str, KeyPair] = {}

    def pair(self, label: str) -> KeyPair:
        if label not in self.pairs:
            public, secret = self._make()
            self.pairs[label] = KeyPair(public.decode("ascii"), secret.decode("ascii"))
        return self.pairs[label]

    def public(self, label: str) -> str:
        return self.pair(label).public

    def secret_file(self, label: str) -> str:
        return os.path.join(self.directory, f"{label}.key")

    def redact(self, label: str, lines: list[str]) -> list[str]:
        """Node output of `label` with its own secret key (in any common spelling) blanked out."""
        from orchestrator.security.redact import redact

        pair = self.pairs.get(label)
        return redact(lines, pair.secret) if pair else lines

    def __repr__(self) -> str:
        return f"Keyring({self.directory!r}, {len(self.pairs)} pairs, secrets redacted)"
