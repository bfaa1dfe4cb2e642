"""One edge as a user reads it, along the data flow (the sending end first): what `--status`,
`zmqrun ps --edges` and `zmqrun web` show. Pure: an edge, its state and the clock in, a record out."""

from __future__ import annotations

from typing import Any

from orchestrator.edges.declared import Edge
from orchestrator.edges.track import EdgeState

SENDERS = ("PUB", "XPUB", "PUSH")


def edge_row(e: Edge, st: EdgeState | None, now: float, wall: float) -> dict[str, Any]:
    """`now` is the clock the states were stamped with; `wall` the same moment in epoch seconds.
    Rates are bytes per second, None where the kernel counts nothing (ipc, or not connected)."""
    binder = f"{e.binder}.{e.binder_socket}" if e.binder else e.endpoint
    connecter = f"{e.connecter}.{e.connecter_socket}"
    forward = e.binder_type in SENDERS and e.connecter_type not in SENDERS
    ends = [(binder, e.binder, e.binder_type or None), (connecter, e.connecter, e.connecter_type)]
    (src, src_node, src_type), (dst, dst_node, dst_type) = ends if forward else ends[::-1]
    if st is None:
        state, since = "unknown", None
    else:
        state, since = "up" if st.connected else "down" if st.connections else "never up", round(wall - (now - st.since), 3)
    counted = st is not None and st.connected and e.transport == "tcp"
    there, back = ((st.rate_to_connecter, st.rate_to_binder) if forward else (st.rate_to_binder, st.rate_to_connecter)) if st else (0.0, 0.0)
    return {
        "from": src, "to": dst, "from_instance": src_node, "to_instance": dst_node,
        "from_type": src_type, "to_type": dst_type, "binds": "from" if forward else "to",
        "endpoint": e.endpoint, "transport": e.transport,
        "state": state, "since": since, "for": None if st is None else round(now - st.since, 3),
        "reconnects": 0 if st is None else st.reconnects,
        "rate_forward": round(there, 1) if counted else None, "rate_back": round(back, 1) if counted else None,
    }  # fmt: skip


def rate(bps: float | None) -> str:
    if bps is None:
        return "-"
    for unit, size in (("MB/s", 1e6), ("kB/s", 1e3)):
        if bps >= size:
            return f"{bps / size:.1f} {unit}"
    return f"{bps:.0f} B/s"


def state_text(row: dict[str, Any]) -> str:
    """"up 12s (2 reconnects)", "down 3s", "never up", "-"."""
    if row["state"] == "up":
        again = f" ({row['reconnects']} reconnects)" if row["reconnects"] else ""
        return f"up {row['for']:.0f}s{again}"
    return f"down {row['for']:.0f}s" if row["state"] == "down" else "-" if row["state"] == "unknown" else row["state"]


def types_text(row: dict[str, Any]) -> str:
    return f"{row['from_type'] or '?'}>{row['to_type'] or '?'}"
