"""The kernel's socket tables over NETLINK sock_diag: TCP sockets (state, ports, inode, and the
byte counters of tcp_info) and unix stream sockets (inode, peer, name). One client for the
listener checks of start-up and for the edge sampler."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

NLMSG_ERROR, NLMSG_DONE = 2, 3
SOCK_DIAG_BY_FAMILY = 20
NETLINK_SOCK_DIAG = 4
REQUEST_DUMP = 0x301  # NLM_F_REQUEST | NLM_F_DUMP

# TCP states (include/net/tcp_states.h); unix stream sockets use the same numbers.
ESTABLISHED, SYN_SENT, LISTEN = 1, 2, 10

_INET_DIAG_INFO = 2  # the rtattr carrying struct tcp_info
_UNIX_DIAG_NAME, _UNIX_DIAG_PEER = 0, 2
_UDIAG_SHOW_NAME, _UDIAG_SHOW_PEER = 0x01, 0x04
# Offsets inside struct tcp_info (include/uapi/linux/tcp.h); present since Linux 4.1 / 4.2.
_BYTES_ACKED, _BYTES_RECEIVED = 120, 128


class TcpSocket(NamedTuple):
    state: int
    src: str
    sport: int
    dst: str
    dport: int
    inode: int
    bytes_acked: int = 0  # sent by this end and acknowledged by the peer (tcp_info)
    bytes_received: int = 0


class UnixSocket(NamedTuple):
    state: int
    inode: int
    peer: int  # the peer's inode, 0 if none
    name: str  # the bound path ("" for an unnamed, connecting socket)


def _dump(request: bytes) -> Iterator[tuple[bytes, int, int]]:
    """One sock_diag dump: yields (buffer, offset of the message body, end). Raises OSError when
    netlink is unavailable or refuses."""
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    with nl:
        nl.send(struct.pack("=IHHII", 16 + len(request), SOCK_DIAG_BY_FAMILY, REQUEST_DUMP, 1, 0) + request)
        while True:
            data = nl.recv(1 << 17)
            if not data:
                raise OSError("sock_diag: empty reply")
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR or length < 16:
                    raise OSError("sock_diag refused the request")
                yield data, offset + 16, offset + length
                offset += (length + 3) & ~3


def _attrs(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """The rtattrs between start and end: (type, payload start, payload end)."""
    while start + 4 <= end:
        length, kind = struct.unpack_from("=HH", data, start)
        if length < 4:
            return
        yield kind, start + 4, start + length
        start += (length + 3) & ~3


def tcp_sockets(family: int, states: int, info: bool = False) -> list[TcpSocket]:
    """Every TCP socket of `family` (AF_INET or AF_INET6) in one of `states` (a bitmask of
    1 << state), with tcp_info's byte counters when `info`. Raises OSError without netlink."""
    ext = 1 << (_INET_DIAG_INFO - 1) if info else 0
    # inet_diag_req_v2: family, protocol, ext, pad, states bitmask, then a zeroed socket id.
    request = struct.pack("=BBBBI48x", family, socket.IPPROTO_TCP, ext, 0, states)
    size = 4 if family == socket.AF_INET else 16
    found = []
    unpack_ports, unpack_inode = struct.Struct(">HH").unpack_from, struct.Struct("=I").unpack_from
    for data, body, end in _dump(request):
        # inet_diag_msg: family, state, timer, retrans; id (sport, dport big-endian; src, dst 16
        # bytes each; interface; cookie); expires, rqueue, wqueue, uid, inode. 72 bytes.
        sport, dport = unpack_ports(data, body + 4)
        src = socket.inet_ntop(family, data[body + 8 : body + 8 + size])
        dst = socket.inet_ntop(family, data[body + 24 : body + 24 + size])
        acked = received = 0
        if info:
            for kind, a, b in _attrs(data, body + 72, end):
                if kind == _INET_DIAG_INFO and b - a >= _BYTES_RECEIVED + 8:
                    acked, received = struct.unpack_from("=QQ", data, a + _BYTES_ACKED)
        found.append(TcpSocket(data[body + 1], src, sport, dst, dport, unpack_inode(data, body + 68)[0], acked, received))
    return found


def unix_sockets(states: int) -> list[UnixSocket]:
    """Every unix socket in one of `states` (bitmask), with its peer and bound name."""
    # unix_diag_req: family, protocol, pad, states, inode, show, cookie.
    request = struct.pack("=BBHIII8x", socket.AF_UNIX, 0, 0, states, 0, _UDIAG_SHOW_NAME | _UDIAG_SHOW_PEER)
    found = []
    for data, body, end in _dump(request):
        # unix_diag_msg: family, type, state, pad, inode, cookie. 16 bytes.
        state, inode = data[body + 2], struct.unpack_from("=I", data, body + 4)[0]
        peer, name = 0, ""
        for kind, a, b in _attrs(data, body + 16, end):
            if kind == _UNIX_DIAG_PEER:
                peer = struct.unpack_from("=I", data, a)[0]
            elif kind == _UNIX_DIAG_NAME:
                raw = data[a:b]
                # A path ends at its first NUL (the kernel may count one); an abstract name starts with one.
                name = (raw if raw[:1] == b"\0" else raw.split(b"\0", 1)[0]).decode("utf-8", "replace")
        found.append(UnixSocket(state, inode, peer, name))
    return found


def listening_ports() -> set[int] | None:
    """Ports of listening TCP sockets, v4 and v6: unlike /proc/net/tcp, the cost does not grow
    with every connection and TIME_WAIT entry on the machine. None if unsupported."""
    try:
        return {s.sport for fam in (socket.AF_INET, socket.AF_INET6) for s in tcp_sockets(fam, 1 << LISTEN)}
    except (OSError, AttributeError):
        return None
