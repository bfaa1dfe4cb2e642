"""Node output is untrusted: shown literally, no escapes, bounded, always whole lines."""

from __future__ import annotations

import io
import os
import selectors
import signal
import subprocess
import sys
from types import SimpleNamespace

from conftest import wait_for

from orchestrator.run import procfs
from orchestrator.run.pipes import Pipes
from orchestrator.view.printer import MAX_LINE, PARTIAL_AFTER, LineSplitter, Printer, sanitize


def test_escape_sequences_never_pass():
    evil = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x1bPdcs\x1b\\ok\x9b31m\r\x08\x07"
    assert sanitize(evil) == "ok31m"


def test_markup_is_printed_as_text():
    out = io.BytesIO()
    Printer(out, [("a.1", 0)], color=True).lines("a.1", ["[bold red]x[/] and [/bold]"])
    text = out.getvalue().decode()
    assert "[bold red]x[/] and [/bold]" in text
    assert text.count("\x1b[") == 2  # the coloured prefix's own start and reset, nothing else


def test_no_colour_means_no_escape_at_all():
    out = io.BytesIO()
    printer = Printer(out, [("worker.1", 0), ("sink.1", 1)], color=False)
    printer.lines("sink.1", ["hello", "world"])
    assert out.getvalue() == b"sink.1   | hello\nsink.1   | world\n"


def test_long_line_is_split_and_memory_stays_bounded():
    s = LineSplitter()
    lines = []
    for _ in range(128):  # 1 MiB with no newline, in 8 KiB chunks
        lines += s.feed(b"x" * 8192)
        assert len(s._pending) <= MAX_LINE
    lines += s.flush()
    assert sum(map(len, lines)) == 1 << 20
    assert all(len(line) <= MAX_LINE for line in lines)


def test_invalid_utf8_is_replaced_and_split_characters_survive():
    s = LineSplitter()
    euro = "€".encode()
    assert s.feed(b"bad \xff\xfe " + euro[:1]) == []
    assert s.feed(euro[1:] + b"\n") == ["bad \ufffd\ufffd €"]


def test_last_line_without_newline_is_kept():
    s = LineSplitter()
    assert s.feed(b"one\ntwo") == ["one"]
    assert s.flush() == ["two"]


def test_closed_pipe_does_not_raise():
    class Broken(io.BytesIO):
        def write(self, data):
            raise BrokenPipeError

    printer = Printer(Broken(), [("a.1", 0)], color=False)
    printer.lines("a.1", ["x"])
    printer.note("still fine")
    assert printer.broken


def test_escape_split_across_chunks_is_still_removed():
    s = LineSplitter()
    assert s.feed(b"\x1b[2Jabc") == []
    assert s.feed(b"def\nclean\n") == ["abcdef", "clean"]
    assert s.feed(b"x\x1b") == []
    assert s.feed(b"]0;title\x07y\n") == ["xy"]  # the OSC is whole again once the chunks meet


def test_non_ascii_and_c1_controls_take_the_careful_path():
    s = LineSplitter()
    assert s.feed("ok é \u009b31m \u202eevil\n".encode()) == ["ok é 31m evil"]


def test_a_partial_line_shown_early_is_not_shown_twice():
    now = [0.0]
    s = LineSplitter(clock=lambda: now[0])
    assert s.feed(b"Name? ") == [] and s.waiting_since == 0.0
    assert s.partial() == "Name? " and s.waiting_since is None
    now[0] = 1.0
    assert s.feed(b"\x1b[31m") == [] and s.waiting_since == 1.0  # more of the same line waits again
    assert s.partial() == ""  # an escape alone shows nothing
    lines = s.feed(b"Ada\nnext")
    assert lines == ["Name? Ada"]  # whole lines for the expect block and ready regexes
    assert s.display(lines) == ["Ada"]  # the screen gets only what it has not seen
    assert s.display(s.feed(b" line\n")) == ["next line"]
    assert s.feed(b"> ") == [] and s.partial() == "> "
    assert s.display(s.feed(b"\n")) == []  # the prompt's line ended with nothing more to show


def test_a_line_still_arriving_is_not_sitting():
    now = [0.0]
    s = LineSplitter(clock=lambda: now[0])
    s.feed(b"line 49")  # a line cut by the pipe's chunking, not a prompt
    now[0] = 0.1
    assert s.feed(b"9") == [] and s.waiting_since == 0.1  # quiet time counts from the last bytes
    now[0] = 0.2
    assert s.feed(b"9\nnext") == ["line 4999"] and s.waiting_since == 0.2
    assert s.display(["line 4999"]) == ["line 4999"]  # nothing was shown early, nothing is cut


def test_time_spent_relaying_is_not_the_nodes_silence():
    """A line cut by the pipe's chunking is no prompt, even when relaying the lines before it took
    zmqrun longer than PARTIAL_AFTER (blocked on a slow reader of its own output); a partial line
    is shown only when draining the pipe finds nothing more."""
    now = [0.0]
    r, w = os.pipe()
    os.set_blocking(r, False)
    shown: list[str] = []

    def relay(_p: object, lines: list[str]) -> None:
        shown.extend(lines)
        now[0] += 1.0  # writing them out took a second

    pipes = Pipes(selectors.DefaultSelector(), relay, lambda: now[0])
    with os.fdopen(r, "rb", buffering=0) as out:
        node = SimpleNamespace(spawned=SimpleNamespace(out_fd=r, out=out, pty=False, trickle=False, pid=0), splitter=LineSplitter(lambda: now[0]))
        os.write(w, b"line 1\nline 2 cut he")
        assert pipes.read(node) is True  # type: ignore[arg-type]
        os.write(w, b"re\nline 3 cut th")  # the node went on writing meanwhile
        partials: list[str] = []
        pipes.show_partials([node], now[0], lambda _p, text: partials.append(text))  # type: ignore[list-item]
        assert shown == ["line 1", "line 2 cut here"] and partials == []
        now[0] += PARTIAL_AFTER  # now the node really is quiet mid-line: a prompt
        pipes.show_partials([node], now[0], lambda _p, text: partials.append(text))  # type: ignore[list-item]
        assert partials == ["line 3 cut th"]
    os.close(w)


def test_a_node_still_running_mid_line_is_not_sitting_on_a_prompt():
    """A block-buffered node's chunk ends mid-line; on a loaded machine the node may then wait
    longer than PARTIAL_AFTER for a CPU. Running or runnable, it is not sitting on a prompt: the
    partial waits (no torn line) and is shown once the node really stops."""
    now = [0.0]
    r, w = os.pipe()
    os.set_blocking(r, False)
    shown: list[str] = []
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        pipes = Pipes(selectors.DefaultSelector(), lambda _p, lines: shown.extend(lines), lambda: now[0])
        with os.fdopen(r, "rb", buffering=0) as out:
            spawned = SimpleNamespace(out_fd=r, out=out, pty=False, trickle=False, pid=busy.pid)
            node = SimpleNamespace(spawned=spawned, splitter=LineSplitter(lambda: now[0]))
            os.write(w, b"line 1\nline 2 cut at the end of a chu")
            pipes.read(node)  # type: ignore[arg-type]
            partials: list[str] = []
            now[0] += PARTIAL_AFTER * 4
            pipes.show_partials([node], now[0], lambda _p, text: partials.append(text))  # type: ignore[list-item]
            assert partials == [] and node.splitter.waiting_since == now[0]  # looked at again later
            busy.send_signal(signal.SIGSTOP)  # stopped: no longer running, as if waiting for input
            wait_for(lambda: not procfs.running(busy.pid), 10)
            now[0] += PARTIAL_AFTER
            pipes.show_partials([node], now[0], lambda _p, text: partials.append(text))  # type: ignore[list-item]
            assert shown == ["line 1"] and partials == ["line 2 cut at the end of a chu"]
        os.close(w)
    finally:
        busy.kill()
        busy.wait()
