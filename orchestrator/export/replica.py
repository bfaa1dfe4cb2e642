"""In a Compose container, before its node: which replica of its service it is. Compose gives a
service's replicas no number of their own, but names their containers `PROJECT-SERVICE-N`, and the
network's DNS answers each name with that container's address; the one address this container
can bind is its own, so its N is the replica number (ZMQRUN_REPLICA) of the zmqrun contract.

On Swarm, the task's slot (1..N) is that number, given in ZMQRUN_SWARM_SLOT.

Run as `python -m orchestrator.export.replica PROJECT SERVICE COUNT` (the image holds zmqrun):
prints N and exits 0; exits 1 if no name answers with an address of its own within the wait."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Sequence

# `docker stack deploy` (Swarm) names containers otherwise, but fills in this variable, which the
# Compose file sets to the template {{.Task.Slot}}; plain `docker compose` leaves the text as it is.
SLOT_VAR = "ZMQRUN_SWARM_SLOT"
WAIT = 30.0  # the network's DNS knows a container once it is attached, before its command runs


def _addresses(name: str) -> list[str]:
    try:
        return [str(info[4][0]) for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)]
    except OSError:
        return []


def _mine(address: str) -> bool:
    """Whether `address` is one of this network namespace's own: only those can be bound."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((address, 0))
        except OSError:
            return False
    return True


def number(project: str, service: str, count: int, resolve: Callable[[str], list[str]] = _addresses,
           wait: float = WAIT, poll: float = 0.5) -> int | None:  # fmt: skip
    """This container's replica number, 1..count, or None once `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        for n in range(1, count + 1):
            if any(_mine(a) for a in resolve(f"{project}-{service}-{n}")):
                return n
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or not args[2].isdigit():
        print("usage: python -m orchestrator.export.replica PROJECT SERVICE COUNT", file=sys.stderr)
        return 2
    slot = os.environ.get(SLOT_VAR, "")
    if slot.isdigit() and 1 <= int(slot) <= int(args[2]):  # Swarm filled it in: that is the number
        print(int(slot))
        return 0
    found = number(args[0], args[1], int(args[2]), resolve=_addresses, wait=WAIT)
    if found is None:
        print(f"zmqrun: no name {args[0]}-{args[1]}-1..{args[2]} answers with this container's address, "
              "so its replica number is unknown (Compose names containers PROJECT-SERVICE-N)", file=sys.stderr)  # fmt: skip
        return 1
    print(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
