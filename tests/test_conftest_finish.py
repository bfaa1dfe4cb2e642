"""The harness itself: reading the rest of a process's output after `readline()` must not lose
what readline had already buffered (`communicate()` reads the raw pipe and would)."""

from __future__ import annotations

import subprocess
import sys

from conftest import finish


def test_finish_keeps_what_readline_buffered() -> None:
    # One write of three lines: the first readline() pulls all of them into the text buffer.
    code = "import os; os.write(1, b'one\\ntwo\\nthree\\n'); os.write(2, b'err\\n')"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline() == "one\n"
    out, err = finish(proc, 30)
    assert (out, err, proc.returncode) == ("two\nthree\n", "err\n", 0)
