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


_COUNTERS = struct.Struct("=QQ")
_RTA = struct.Struct("=HH")


def lookup_request(tcp: list[TcpSocket], unix: list[UnixSocket]) -> tuple[bytes, int]:
    """What Lookups.ask() sends for these sockets, tcp and unix in one datagram: made once,
    asked many times."""
    return _datagram([_tcp_request(s.family, 1 << ESTABLISHED, True, s.key) for s in tcp]
                     + [_unix_request(0xFFF, s.inode, s.cookie) for s in unix])  # fmt: skip


class Lookups:
    """Exact lookups of sockets already found, over a netlink socket kept open between samples:
    this is what a quiet run pays every sample, so it is one send, one receive per socket, and
    only the bytes it needs read. The socket is reopened after any error, so a reply left over
    from an interrupted round can never answer the next one."""

    def __init__(self) -> None:
        self.nl: socket.socket | None = None
        self.buf = bytearray(1 << 13)
        self.info = (0, 0)  # where tcp_info was in the last reply that had it, and its length

    def close(self) -> None:
        if self.nl is not None:
            self.nl.close()
            self.nl = None

    def ask(self, request: tuple[bytes, int], tcp: int) -> list[tuple[int, int] | bool | None]:
        """For each socket of a lookup_request() (the first `tcp` of them TCP): a TCP socket's
        (bytes_acked, bytes_received), None once it is no longer established; whether a unix
        socket is still there and connected."""
        data, count = request
        if not count:
            return []
        try:
            if self.nl is None:
                self.nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
            return self._ask(self.nl, data, count, tcp)
        except BaseException:
            self.close()
            raise

    def _ask(self, nl: socket.socket, data: bytes, count: int, tcp: int) -> list[tuple[int, int] | bool | None]:
        buf, header, counters = self.buf, _HEADER, _COUNTERS
        at, size = self.info
        out: list[tuple[int, int] | bool | None] = []
        nl.send(data)
        for seq in range(count):  # each reply, answer or error, is a datagram of its own
            n = nl.recv_into(buf)
            length, kind, _, got, _ = header.unpack_from(buf)
            if got != seq:
                raise OSError(f"sock_diag: reply {got} where {seq} was expected")
            end = min(n, length)
            if seq >= tcp:  # unix_diag_msg: family, type, state
                out.append(kind != NLMSG_ERROR and end >= 32 and buf[18] == ESTABLISHED)
            elif kind == NLMSG_ERROR or end < 16 + 72 or buf[17] != ESTABLISHED:
                out.append(None)
            elif at and at + size <= end and _RTA.unpack_from(buf, at) == (size, _INET_DIAG_INFO):
                out.append(counters.unpack_from(buf, at + 4 + _BYTES_ACKED))  # where it was last time
            else:
                at, size = self.info = _find_info(buf, end)
                out.append(counters.unpack_from(buf, at + 4 + _BYTES_ACKED) if at else None)
        return out


def _find_info(buf: bytearray, end: int) -> tuple[int, int]:
    """Where tcp_info's rtattr starts in an inet_diag reply, and its length ((0, 0) if it has
    none). The attributes are the same for every reply of one kernel, so Lookups looks there
    first."""
    at = 16 + 72
    while at + 4 <= end:
        size, attr = _RTA.unpack_from(buf, at)
        if size < 4:
            break
        if attr == _INET_DIAG_INFO and size - 4 >= _BYTES_RECEIVED + 8 and at + size <= end:
            return at, size
        at += (size + 3) & ~3
    return 0, 0


def socket_inodes(pid: int) -> list[int]:
    """The inodes of the sockets a process holds open (from /proc/PID/fd), which is how a socket
    the kernel reports is tied to its process; [] for a process gone or not ours to read."""
    return [int(t[8:-1]) for t in procfs.fd_targets(pid) if t.startswith("socket:[")]
