"""`zmqrun ps --edges` and `zmqrun web` against real runs: a tcp edge whose traffic starts late
(the sender waits for a file the test creates) and an ipc edge; the page in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.api import Run
from tests.conftest import ROOT, finish, wait_for

NODE = [sys.executable, str(ROOT / "tests" / "programs" / "edgenode.py")]
# A log line that would be markup if the page ever inserted node output as HTML.
HOSTILE = "<img src=x onerror=alert(1)><b>bold</b>"


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private TMPDIR: only this test's runs are alive in it, and its path fits a Unix socket."""
    path = Path(tempfile.mkdtemp(prefix="zw"))
    monkeypatch.setenv("TMPDIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def topology(root: Path) -> Path:
    """source -(tcp, PUSH>PULL, traffic once `go` exists)-> relay -(ipc, PUB>SUB)-> sink; and noisy."""
    path = root / "webdemo.yaml"
    noisy = [sys.executable, "-c", f"import time; print({HOSTILE!r}, flush=True); time.sleep(600)"]
    path.write_text(f"""\
name: webdemo
nodes:
  source:
    run: {json.dumps([*NODE, "gate", "out", str(root / "go")])}
    sockets:
      out: {{type: PUSH, bind: true}}
  relay:
    run: {json.dumps([*NODE, "pull", "in", "0"])}
    sockets:
      in: {{type: PULL, connect: source.out}}
      side: {{type: PUB, bind: true, transport: ipc}}
  sink:
    run: {json.dumps([*NODE, "sub", "in", ""])}
    sockets:
      in: {{type: SUB, connect: relay.side}}
  noisy:
    run: {json.dumps(noisy)}
    ready: {{when: log, log: bold}}
""")
    return path


def zmqrun(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], check=False, capture_output=True,
                          text=True, timeout=30, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}, cwd=ROOT)  # fmt: skip


def edges_json(run_id: str) -> dict:
    done = zmqrun("ps", "--edges", "--json", run_id)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def both_up(run_id: str) -> dict | None:
    """The edges, once both are up and quiet: no traffic yet, and past the handshake (a sample
    may catch its bytes under way, a rate for one interval)."""
    found = edges_json(run_id)
    tcp = found["edges"][0]
    quiet = tcp["rate_forward"] == 0.0 and tcp["rate_back"] == 0.0  # both ways: the handshake goes both ways
    return found if [e["state"] for e in found["edges"]] == ["up", "up"] and quiet else None


def readme_block() -> str:
    """README's `zmqrun ps --edges` screen, without its command line."""
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"^```\n\$ zmqrun ps --edges webdemo\n(.*?)^```$", readme, re.DOTALL | re.MULTILINE)
    return block


def shape(text: str) -> list[list[str]]:
    """A table's cells with what changes from run to run (ids, ports, paths, times, rates) made alike."""
    text = re.sub(r"zr-[0-9a-f]{10}", "RUN", text)
    text = re.sub(r"ipc://\S*/", "ipc://DIR/", text)
    text = re.sub(r"\b[0-9.]+ (B|kB|MB)/s", "RATE", text)
    text = re.sub(r"\d+", "N", text)
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


def test_ps_edges_shows_tcp_and_ipc_edges_along_the_data_flow(root: Path) -> None:
    with Run(topology(root), args=["--edge-interval", "0.2"]) as run:
        found = wait_for(lambda: both_up(run.run_id), timeout=20)
        assert isinstance(found, dict)
        assert found["watched"] and found["interval"] == 0.2 and found["run"]["name"] == "webdemo"
        tcp, ipc = found["edges"]
        assert (tcp["from"], tcp["to"], tcp["from_type"], tcp["to_type"], tcp["binds"]) == (
            "source.1.out", "relay.1.in", "PUSH", "PULL", "from")
        assert (ipc["from"], ipc["to"], ipc["from_type"], ipc["to_type"]) == ("relay.1.side", "sink.1.in", "PUB", "SUB")
        assert tcp["endpoint"].startswith("tcp://127.0.0.1:") and ipc["endpoint"].startswith("ipc://")
        assert tcp["transport"] == "tcp" and ipc["transport"] == "ipc"
        assert tcp["reconnects"] == 0 and tcp["since"] is not None and ipc["since"] is not None
        assert tcp["rate_forward"] == 0.0 and tcp["rate_back"] == 0.0  # no traffic yet: only the handshake flowed
        assert ipc["rate_forward"] is None and ipc["rate_back"] is None  # the kernel counts no ipc bytes

        (root / "go").touch()
        wait_for(lambda: (edges_json(run.run_id)["edges"][0]["rate_forward"] or 0) > 1000, timeout=20)

        text = zmqrun("ps", "--edges", run.run_id)
        assert text.returncode == 0, text.stderr
        assert shape(readme_block()) == shape(text.stdout)  # README shows this screen as it is
        lines = text.stdout.splitlines()
        assert lines[0].startswith(f"run {run.run_id}: webdemo (2 edges, sampled every 0.2s)")
        row = next(line for line in lines if "source.1.out -> relay.1.in" in line)
        assert "PUSH>PULL" in row and " up " in row and re.search(r"[0-9.]+ (kB|MB)/s", row), row
        row = next(line for line in lines if "relay.1.side -> sink.1.in" in line)
        assert "PUB>SUB" in row and "ipc://" in row and " up " in row, row


def test_ps_edges_when_edges_are_not_watched(root: Path) -> None:
    with Run(topology(root), args=["--edge-interval", "0"]) as run:
        found = edges_json(run.run_id)
        assert found["watched"] is False and found["interval"] is None
        assert [(e["from"], e["state"]) for e in found["edges"]] == [("source.1.out", "unknown"), ("relay.1.side", "unknown")]
        assert "edges not watched" in zmqrun("ps", "--edges", run.run_id).stdout
        # `zmqrun web` completes the live runs, then nothing; `ps` has --edges among its flags.
        assert set(zmqrun("_complete", "2", "zmqrun", "web", "").stdout.split()) == {run.run_id, "webdemo"}
        assert zmqrun("_complete", "3", "zmqrun", "web", "webdemo", "").stdout.split() == []
        assert "--edges" in zmqrun("_complete", "2", "zmqrun", "ps", "--").stdout.split()
        web = Web(run.run_id)
        try:
            os.kill(web.proc.pid, signal.SIGINT)  # Ctrl-C ends the page's server, not the run
            wait_for(lambda: web.proc.poll() is not None, timeout=15)
            assert web.proc.returncode == 0 and run.returncode is None
        finally:
            web.close()


class Web:
    """`zmqrun web RUN` in its own process, killed by its PID at the end."""

    def __init__(self, run_id: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "web", run_id], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=os.environ.copy(), start_new_session=True)  # fmt: skip
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the first line is the URL (the test's timeout bounds this)
        match = re.search(r"(http://127\.0\.0\.1:\d+)/\?t=([A-Za-z0-9_-]{20,})$", line.strip())
        assert match, line
        self.base, self.token = match.groups()
        self.url = f"{self.base}/?t={self.token}"

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as reply:
                return reply.status, dict(reply.headers), reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        finish(self.proc, 10)


def test_web_needs_the_token_sends_a_strict_csp_and_ends_with_the_run(root: Path) -> None:
    run = Run(topology(root), args=["--edge-interval", "0.2"]).launch()
    web = None
    try:
        web = Web(run.run_id)
        for path in ("/", "/state", "/?t=", f"/?t={web.token[:-1]}", f"/state?t={web.token}x", "/nothing"):
            code, _, body = web.get(path)
            assert code == 403 and run.run_id.encode() not in body, path
        code, headers, page = web.get(f"/?t={web.token}")
        assert code == 200 and headers["Content-Type"].startswith("text/html")
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "unsafe" not in csp and "script-src 'sha256-" in csp
        assert not re.search(rb"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing fetched from elsewhere
        assert b"innerHTML" not in page and b"outerHTML" not in page and b"insertAdjacentHTML" not in page
        code, headers, body = web.get(f"/state?t={web.token}")
        state = json.loads(body)
        assert code == 200 and headers["Content-Type"] == "application/json"
        assert [i["label"] for i in state["instances"]] == ["source.1", "relay.1", "sink.1", "noisy.1"]
        assert [(e["from"], e["to"]) for e in state["edges"]] == [("source.1.out", "relay.1.in"), ("relay.1.side", "sink.1.in")]
        assert HOSTILE in state["logs"]["noisy.1"]  # as data; the page sets it as text
        assert web.get(f"/nothing?t={web.token}")[0] == 404
        for method in ("POST", "PUT", "DELETE", "PATCH"):  # read-only: nothing but GET is served, token or not
            request = urllib.request.Request(f"{web.base}/state?t={web.token}", data=b"{}", method=method)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 501, method
        run.close()
        wait_for(lambda: web.proc.poll() is not None, timeout=15)  # the page's server ends with the run
        assert web.proc.returncode == 0
    finally:
        if web is not None:
            web.close()
        run.close()


# ---- in a real browser ----------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def chromium(url: str, *args: str, budget: int = 2500) -> str:
    """Load `url` in headless Chromium with a fresh profile; its stdout (the DOM with --dump-dom).
    `budget` ms of page time run first, so the page has polled /state and drawn."""
    assert CHROMIUM is not None
    profile = tempfile.mkdtemp(prefix="zw-chromium-")
    proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget}",
                             *args, url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        out, _ = finish(proc, 60)
        assert proc.returncode == 0, f"chromium exited with {proc.returncode}"
        return out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only the browser we started
            proc.communicate()
        shutil.rmtree(profile, ignore_errors=True)


def rate_label(dom: str) -> str:
    match = re.search(r'<g class="edge [^"]*" data-from="source\.1\.out".*?<text [^>]*class="label">([^<]*)</text>', dom)
    assert match, dom[:2000]
    return match.group(1)


def test_web_page_in_headless_chromium(root: Path) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):  # CI=true, CI=1, ...: it must be there
            pytest.fail("chromium is not installed; .ci/run installs it (Debian packages chromium, chromium-driver)")
        pytest.skip("chromium is not installed (Debian package chromium)")
    run = Run(topology(root), args=["--edge-interval", "0.2"]).launch()
    web = None
    try:
        wait_for(lambda: both_up(run.run_id), timeout=20)
        web = Web(run.run_id)
        dom = chromium(web.url, "--dump-dom")
        for node in ("source.1", "relay.1", "sink.1", "noisy.1"):
            assert f'<g class="node" data-node="{node}"' in dom and f'<div class="card" data-node="{node}">' in dom, node
        assert '<g class="edge up" data-from="source.1.out" data-to="relay.1.in"' in dom
        assert '<g class="edge up" data-from="relay.1.side" data-to="sink.1.in"' in dom
        before = rate_label(dom)
        assert before == "tcp up · 0 B/s →", before
        # Node output is shown as text: the markup arrives escaped, and no element came of it.
        assert "&lt;img src=x onerror=alert(1)&gt;&lt;b&gt;bold&lt;/b&gt;" in dom
        assert "<img" not in dom and "<b>" not in dom

        (root / "go").touch()
        after = wait_for(lambda: (label := rate_label(chromium(web.url, "--dump-dom"))) != before and label, timeout=40)
        assert isinstance(after, str) and re.fullmatch(r"tcp up · [0-9.]+ (kB|MB)/s →", after), after

        shot = Path(os.environ.get("ZMQRUN_WEB_SCREENSHOT") or root / "web.png")  # README's picture: docs/web.png
        chromium(web.url, "--window-size=1000,560", f"--screenshot={shot}")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        if web is not None:
            web.close()
        run.close()
