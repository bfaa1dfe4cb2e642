"""The kernel's socket tables over NETLINK sock_diag: TCP sockets (state, ports, inode, and the
byte counters of tcp_info) and unix stream sockets (inode, peer, name). One client for the
listener checks of start-up and for the edge sampler."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import NamedTuple

from orchestrator.run import procfs

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
    family: int
    state: int
    src: str
    sport: int
    dst: str
    dport: int
    inode: int
    bytes_acked: int = 0  # sent by this end and acknowledged by the peer (tcp_info)
    bytes_received: int = 0
    key: bytes = b""  # the kernel's socket id (ports, addresses, interface, cookie): for lookup()


class UnixSocket(NamedTuple):
    state: int
    inode: int
    peer: int  # the peer's inode, 0 if none
    name: str  # the bound path ("" for an unnamed, connecting socket)
    cookie: bytes = b""  # with the inode, what lookup_unix() needs


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


def _tcp(data: bytes, body: int, end: int) -> TcpSocket:
    # inet_diag_msg: family, state, timer, retrans; id (sport, dport big-endian; src, dst 16
    # bytes each; interface; cookie: 48 bytes); expires, rqueue, wqueue, uid, inode. 72 bytes.
    family = data[body]
    size = 4 if family == socket.AF_INET else 16
    sport, dport = struct.unpack_from(">HH", data, body + 4)
    acked = received = 0
    for kind, a, b in _attrs(data, body + 72, end):
        if kind == _INET_DIAG_INFO and b - a >= _BYTES_RECEIVED + 8:
            acked, received = struct.unpack_from("=QQ", data, a + _BYTES_ACKED)
    return TcpSocket(family, data[body + 1], socket.inet_ntop(family, data[body + 8 : body + 8 + size]), sport,
                     socket.inet_ntop(family, data[body + 24 : body + 24 + size]), dport,
                     struct.unpack_from("=I", data, body + 68)[0], acked, received, data[body + 4 : body + 52])  # fmt: skip


def _unix(data: bytes, body: int, end: int) -> UnixSocket:
    # unix_diag_msg: family, type, state, pad, inode, cookie. 16 bytes.
    peer, name = 0, ""
    for kind, a, b in _attrs(data, body + 16, end):
        if kind == _UNIX_DIAG_PEER:
            peer = struct.unpack_from("=I", data, a)[0]
        elif kind == _UNIX_DIAG_NAME:
            raw = data[a:b]
            # A path ends at its first NUL (the kernel may count one); an abstract name starts with one.
            name = (raw if raw[:1] == b"\0" else raw.split(b"\0", 1)[0]).decode("utf-8", "replace")
    return UnixSocket(data[body + 2], struct.unpack_from("=I", data, body + 4)[0], peer, name, data[body + 8 : body + 16])


def _tcp_request(family: int, states: int, info: bool, key: bytes = bytes(48)) -> bytes:
    # inet_diag_req_v2: family, protocol, ext, pad, states bitmask, then the socket id.
    return struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 1 << (_INET_DIAG_INFO - 1) if info else 0, 0, states) + key


def _unix_request(states: int, inode: int = 0, cookie: bytes = bytes(8)) -> bytes:
    # unix_diag_req: family, protocol, pad, states, inode, show, cookie.
    return struct.pack("=BBHIII", socket.AF_UNIX, 0, 0, states, inode, _UDIAG_SHOW_NAME | _UDIAG_SHOW_PEER) + cookie


def tcp_sockets(family: int, states: int, info: bool = False) -> list[TcpSocket]:
    """Every TCP socket of `family` (AF_INET or AF_INET6) in one of `states` (a bitmask of
    1 << state), with tcp_info's byte counters when `info`. The kernel walks its whole table of
    connections for this; lookup() is the cheap way to follow sockets already found."""
    return [_tcp(*m) for m in _dump(_tcp_request(family, states, info))]


def unix_sockets(states: int) -> list[UnixSocket]:
    """Every unix socket in one of `states` (bitmask), with its peer and bound name."""
    return [_unix(*m) for m in _dump(_unix_request(states))]


_HEADER = struct.Struct("=IHHII")


def _datagram(requests: list[bytes]) -> tuple[bytes, int]:
    """Many single-socket requests in one datagram (netlink handles each in turn)."""
    return b"".join(_HEADER.pack(16 + len(r), SOCK_DIAG_BY_FAMILY, 0x1, seq, 0) + r for seq, r in enumerate(requests)), len(requests)


def _lookup(datagram: tuple[bytes, int], least: int) -> Iterator[memoryview | None]:
    """Sends a _datagram(); yields each reply (the message without its header) in order, None
    where the socket is gone."""
    data, count = datagram
    if not count:
        return
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    buf = bytearray(1 << 13)
    view = memoryview(buf)
    header = _HEADER
    with nl:
        nl.send(data)
        for _ in range(count):  # each reply, answer or error, is a datagram of its own
            n = nl.recv_into(buf)
            length, kind = header.unpack_from(buf)[:2]
            yield None if kind == NLMSG_ERROR or n < 16 + least else view[16:min(n, length)]


_COUNTERS = struct.Struct("=QQ")
_RTA = struct.Struct("=HH")


def lookup_request(sockets: list[TcpSocket]) -> tuple[bytes, int]:
    """What lookup() sends for these sockets: made once, asked many times."""
    return _datagram([_tcp_request(s.family, 1 << ESTABLISHED, True, s.key) for s in sockets])


def lookup(request: tuple[bytes, int]) -> list[tuple[int, int] | None]:
    """(bytes_acked, bytes_received) of each socket of a lookup_request() now; None for one no
    longer established. One round trip for all and no walk of the kernel's tables: this is what
    a quiet run pays every sample, so it reads only what it needs."""
    out: list[tuple[int, int] | None] = []
    for msg in _lookup(request, 72):
        found = None
        if msg is not None and msg[1] == ESTABLISHED:
            at, end = 72, len(msg)
            while at + 4 <= end:  # the rtattrs: find tcp_info
                length, kind = _RTA.unpack_from(msg, at)
                if length < 4:
                    break
                if kind == _INET_DIAG_INFO and length - 4 >= _BYTES_RECEIVED + 8:
                    found = _COUNTERS.unpack_from(msg, at + 4 + _BYTES_ACKED)
                    break
                at += (length + 3) & ~3
        out.append(found)
    return out


def lookup_unix(sockets: list[UnixSocket]) -> list[bool]:
    """Whether each of these unix sockets is still there and connected."""
    found = _lookup(_datagram([_unix_request(0xFFF, s.inode, s.cookie) for s in sockets]), 16)
    return [m is not None and m[2] == ESTABLISHED for m in found]


def socket_inodes(pid: int) -> list[int]:
    """The inodes of the sockets a process holds open (from /proc/PID/fd), which is how a socket
    the kernel reports is tied to its process; [] for a process gone or not ours to read."""
    return [int(t[8:-1]) for t in procfs.fd_targets(pid) if t.startswith("socket:[")]
