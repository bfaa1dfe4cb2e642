"""Blank out a secret key in text that came from outside (node output) before anyone sees it."""

from __future__ import annotations

import base64

REDACTED = "[redacted]"


def spellings(z85_secret: str) -> tuple[str, ...]:
    """The ways a program is likely to print a key: Z85 as stored, hex, base64."""
    from zmq.utils import z85

    raw = z85.decode(z85_secret.encode("ascii"))
    return (z85_secret, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode("ascii"))


def redact(lines: list[str], z85_secret: str) -> list[str]:
    forms = spellings(z85_secret)
    text = "\n".join(lines)
    if not any(form in text for form in forms):  # the common case: one scan per spelling
        return lines
    for form in forms:
        text = text.replace(form, REDACTED)
    return text.split("\n")
