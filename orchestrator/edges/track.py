"""Folds the kernel's observations of one edge into its state: connected or not and since when,
reconnects, bytes and rates each way. Pure: an observation and the clock in, a new state out."""

from __future__ import annotations

from typing import NamedTuple

HANDSHAKE = 256  # bytes a ZMTP greeting and handshake take each way, roughly; beyond it is data


class Observation(NamedTuple):
    """What one sample saw of one edge, from the connecting end's socket."""

    connected: bool
    conn: int = 0  # identity of the connection (the connecter's socket inode); 0 when none
    to_connecter: int = 0  # bytes so far on this connection (tcp_info); ipc edges have none
    to_binder: int = 0


class EdgeState(NamedTuple):
    connected: bool
    since: float  # when it became connected, or disconnected (or was first seen)
    conn: int = 0
    connections: int = 0  # connections seen; reconnects are those after the first
    to_connecter: int = 0  # on the current connection
    to_binder: int = 0
    total_to_connecter: int = 0  # over every connection
    total_to_binder: int = 0
    rate_to_connecter: float = 0.0  # bytes per second over the last sample interval
    rate_to_binder: float = 0.0
    grew_to_connecter: float = 0.0  # when bytes toward the connecter last grew
    grew_to_binder: float = 0.0
    data_to_connecter: float | None = None  # when bytes beyond the handshake first flowed that way
    data_to_binder: float | None = None

    @property
    def reconnects(self) -> int:
        return max(0, self.connections - 1)


def advance(prev: EdgeState | None, obs: Observation, now: float, last: float) -> EdgeState:
    """The state after `obs`, seen at `now`; `last` is when the previous sample was taken."""
    if prev is None:
        prev, last = EdgeState(False, now), now
    elif (obs.connected == prev.connected and obs.conn == prev.conn and obs.to_connecter == prev.to_connecter
          and obs.to_binder == prev.to_binder and not prev.rate_to_connecter and not prev.rate_to_binder):  # fmt: skip
        return prev  # nothing moved: the common case of a quiet run, kept cheap
    new_conn = obs.connected and obs.conn != prev.conn
    if new_conn:  # counters restart with every connection
        d_conn, d_bind = obs.to_connecter, obs.to_binder
    elif obs.connected:
        d_conn, d_bind = max(0, obs.to_connecter - prev.to_connecter), max(0, obs.to_binder - prev.to_binder)
    else:
        d_conn = d_bind = 0
    dt = now - last
    total_c, total_b = prev.total_to_connecter + d_conn, prev.total_to_binder + d_bind
    connections = prev.connections + (1 if new_conn else 0)
    handshakes = HANDSHAKE * max(1, connections)
    first_c = prev.data_to_connecter if prev.data_to_connecter is not None or total_c <= handshakes else now
    first_b = prev.data_to_binder if prev.data_to_binder is not None or total_b <= handshakes else now
    return EdgeState(
        connected=obs.connected,
        since=now if obs.connected != prev.connected or new_conn else prev.since,
        conn=obs.conn if obs.connected else 0,
        connections=connections,
        to_connecter=obs.to_connecter if obs.connected else 0,
        to_binder=obs.to_binder if obs.connected else 0,
        total_to_connecter=total_c,
        total_to_binder=total_b,
        rate_to_connecter=d_conn / dt if dt > 0 and not new_conn else 0.0,
        rate_to_binder=d_bind / dt if dt > 0 and not new_conn else 0.0,
        grew_to_connecter=now if d_conn else prev.grew_to_connecter,
        grew_to_binder=now if d_bind else prev.grew_to_binder,
        data_to_connecter=first_c,
        data_to_binder=first_b,
    )
