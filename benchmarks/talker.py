"""Benchmark node: prints COUNT lines of about 60 bytes as fast as it can, one print() each; each
line carries its node name, sequence number and a checksum, so the harness can prove none is lost
or torn. `flush` as a third argument flushes every line (what line buffering costs the node)."""

import sys
import zlib

name, count = sys.argv[1], int(sys.argv[2])
flush = len(sys.argv) > 3 and sys.argv[3] == "flush"
for i in range(count):
    body = f"{name} {i:07d} the quick brown fox jumps over the lazy"
    print(f"{body} {zlib.crc32(body.encode()):08x}", flush=flush)
