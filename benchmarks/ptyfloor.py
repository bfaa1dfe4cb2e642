"""`buffering: line` without zmqrun: each node's stdout and stderr a pseudo-terminal in raw mode,
as zmqrun gives them, read by the barest relay there is (read the master, write each chunk to a
file; no splitting, no sanitising, no prefixes). What a terminal costs a node, with no zmqrun.
Usage: ptyfloor.py OUTDIR NODE_COMMAND... -- NAME...  (the node command gets NAME appended
after its first word's script; the output of NAME goes to OUTDIR/direct-NAME.txt)."""

import os
import selectors
import subprocess
import sys
import tty

cut = sys.argv.index("--")
outdir, node, names = sys.argv[1], sys.argv[2:cut], sys.argv[cut + 1 :]
sel = selectors.DefaultSelector()
procs = []
for name in names:
    master, slave = os.openpty()
    tty.setraw(slave)
    procs.append(subprocess.Popen([node[0], node[1], name, *node[2:]], stdout=slave, stderr=slave))
    os.close(slave)
    sel.register(master, selectors.EVENT_READ, os.open(os.path.join(outdir, f"direct-{name}.txt"),
                                                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))  # fmt: skip
open_fds = len(names)
while open_fds:
    for key, _ in sel.select():
        try:
            data = os.read(key.fd, 1 << 16)
        except OSError:  # EIO: the node closed its end
            data = b""
        if data:
            os.write(key.data, data)  # a regular file takes every byte
        else:
            sel.unregister(key.fd)
            os.close(key.fd)
            os.close(key.data)
            open_fds -= 1
for p in procs:
    p.wait()
