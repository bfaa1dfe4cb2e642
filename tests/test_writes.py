"""Every byte of zmqrun's output is written, whatever the stream: raw (PYTHONUNBUFFERED makes
sys.stdout.buffer raw) or buffered, blocking or non-blocking, taking only part of a write."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from conftest import slow_reader

from orchestrator.writes import write_fd, write_stream

DATA = b"".join(b"line %07d the quick brown fox jumps over the lazy dog\n" % i for i in range(40_000))  # ~2 MB


class Stingy(io.RawIOBase):
    """A raw stream that takes at most 7 bytes a call, as a write(2) cut short by a signal does."""

    def __init__(self) -> None:
        self.got = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def,override]
        taken = bytes(b[:7])
        self.got += taken
        return len(taken)


def test_a_stream_that_takes_part_of_each_write_still_gets_everything() -> None:
    out = Stingy()
    write_stream(out, DATA[:50_000])  # type: ignore[arg-type]
    assert bytes(out.got) == DATA[:50_000]


@pytest.mark.parametrize("how", ["raw", "buffered", "fd"])
def test_a_non_blocking_pipe_with_a_slow_reader_gets_every_byte(how: str) -> None:
    r, w = os.pipe()
    os.set_blocking(w, False)  # as another holder of the pipe may have set it
    got = bytearray()
    reader = slow_reader(r, got)
    if how == "fd":
        write_fd(w, DATA)
        os.close(w)
    else:
        with open(w, "wb", buffering=0 if how == "raw" else io.DEFAULT_BUFFER_SIZE) as out:
            write_stream(out, DATA)
    reader.join(timeout=60)
    os.close(r)
    assert not reader.is_alive()
    assert len(got) == len(DATA) and bytes(got) == DATA


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_whole_document_reaches_a_non_blocking_pipe(tmp_path, unbuffered: str) -> None:
    """`zmqrun export` of a large topology (~370 KB of manifests) into a pipe made non-blocking:
    before, it stopped at the pipe's 64 KB and still exited 0 (raw stdout), or crashed."""
    topo = tmp_path / "big.yaml"
    topo.write_text("image: zmqrun:test\nnodes:\n" + "".join(
        f"  n{i}:\n    run: python3 -c pass\n    sockets:\n      s: {{type: PUB, bind: true}}\n" for i in range(150)))  # fmt: skip
    argv = [sys.executable, "-m", "orchestrator", "export", "kubernetes", str(topo)]
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    whole = subprocess.run(argv, capture_output=True, env=env, timeout=120, check=True).stdout
    assert len(whole) > 4 * 65536
    r, w = os.pipe()
    os.set_blocking(w, False)
    proc = subprocess.Popen(argv, stdout=w, stderr=subprocess.PIPE, env=env)
    os.close(w)
    got = bytearray()
    reader = slow_reader(r, got)
    try:
        reader.join(timeout=120)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    os.close(r)
    assert proc.returncode == 0, err
    assert bytes(got) == whole
