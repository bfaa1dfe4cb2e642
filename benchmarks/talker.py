"""Benchmark node: prints COUNT lines of about 60 bytes as fast as it can; each line carries
its node name, sequence number and a checksum, so the harness can prove none is lost or torn."""

import sys
import zlib

name, count = sys.argv[1], int(sys.argv[2])
out = sys.stdout
for i in range(count):
    body = f"{name} {i:07d} the quick brown fox jumps over the lazy"
    out.write(f"{body} {zlib.crc32(body.encode()):08x}\n")
out.flush()
