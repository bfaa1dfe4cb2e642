"""zmqrun waits a moment after reading a pipe that trickles line by line, so the lines gather and
come in one read, and never after output through a pseudo-terminal (its small buffer would fill
and block the node)."""

from __future__ import annotations

import os
import selectors
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace

from orchestrator.run.pipes import LINGER, READ_CHUNK, SMALL_READ, Pipes
from orchestrator.view.printer import LineSplitter


@contextmanager
def node_pipe(pty: bool = False) -> Iterator[tuple[SimpleNamespace, int]]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    with os.fdopen(r, "rb", buffering=0) as out:
        spawned = SimpleNamespace(out_fd=r, out=out, pty=pty, trickle=False)
        yield SimpleNamespace(spawned=spawned, splitter=LineSplitter()), w
    os.close(w)


def settled(pipes: Pipes) -> list[float]:
    naps: list[float] = []
    pipes.settle(naps.append)
    return naps


def test_a_trickling_pipe_makes_zmqrun_linger_until_it_falls_behind():
    pipes = Pipes(selectors.DefaultSelector(), lambda _p, _lines: None)
    with node_pipe() as (node, w):
        assert settled(pipes) == []  # nothing read: nothing to wait for
        os.write(w, b"one line\n")
        pipes.read(node)  # type: ignore[arg-type]
        assert settled(pipes) == [LINGER]
        assert settled(pipes) == []  # a batch that did not read the pipe does not wait
        os.write(w, b"x" * (SMALL_READ * 2) + b"\n")  # lines gathered while zmqrun waited
        pipes.read(node)  # type: ignore[arg-type]
        assert settled(pipes) == [LINGER]  # still a line-by-line writer: keep gathering
        os.write(w, b"y" * (READ_CHUNK - 1) + b"\n")  # a full read: zmqrun is behind
        pipes.read(node)  # type: ignore[arg-type]
        assert settled(pipes) == []
        os.write(w, b"z" * (SMALL_READ * 2) + b"\n")  # big writes (a block-buffered node)
        pipes.read(node)  # type: ignore[arg-type]
        assert settled(pipes) == []


def test_never_lingers_when_a_pseudo_terminal_had_output():
    pipes = Pipes(selectors.DefaultSelector(), lambda _p, _lines: None)
    with node_pipe() as (piped, w1), node_pipe(pty=True) as (tty, w2):
        os.write(w1, b"a\n")
        os.write(w2, b"b\n")
        pipes.read(piped)  # type: ignore[arg-type]
        pipes.read(tty)  # type: ignore[arg-type]
        assert settled(pipes) == []
        os.write(w2, b"c\n")
        pipes.read(tty)  # type: ignore[arg-type]
        assert settled(pipes) == []
