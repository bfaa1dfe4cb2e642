"""`zmqrun web [RUN]`: a read-only page of a live run, served on 127.0.0.1 at a random free port.
A client of the run's control socket in its own process (never part of the supervisor loop).
Any local user can reach a loopback port, so every request must carry the random token printed
in the URL. The page (page.html, no external resources) polls /state for the run's instances,
edges and log tails; everything in it came from nodes or topology files and is inserted as text."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Any
from urllib.parse import parse_qs, urlsplit

from orchestrator.control.client import ControlClient
from orchestrator.errors import ExitStatus, ZmqrunError
from orchestrator.run.runs import RunInfo, is_alive, resolve
from orchestrator.view.text import one_line

TAIL = 12  # log lines shown per instance
FRESH = 0.5  # seconds a gathered state serves every page polling it (bounds the load on the run)
HOST = "127.0.0.1"


def _csp(page: str) -> str:
    """Only the page's own script and style run (by hash); nothing else is fetched but /state."""
    def digest(tag: str) -> str:
        body = re.search(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)
        if body is None:
            raise ZmqrunError(f"orchestrator/web/page.html has no <{tag}> (a broken install?)")
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.group(1).encode()).digest()).decode() + "'"

    return (f"default-src 'none'; script-src {digest('script')}; style-src {digest('style')}; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")  # fmt: skip


class State:
    """What the page shows, gathered from the run at most every FRESH seconds."""

    def __init__(self, client: ControlClient):
        self.client = client
        self.lock = threading.Lock()
        self.at = 0.0
        self.body = b""

    def get(self) -> bytes:
        with self.lock:
            if time.monotonic() - self.at >= FRESH:
                self.body = json.dumps(self._gather(), ensure_ascii=False).encode()
                self.at = time.monotonic()
            return self.body

    def _gather(self) -> dict[str, Any]:
        try:
            status = self.client.ps()
            edges = self.client.edges()
            logs: dict[str, list[str]] = {label: [] for label in status.instances}
            for item in self.client.logs(tail=TAIL):
                logs.setdefault(item.label, []).append(item.line)
        except ZmqrunError as exc:
            return {"ended": True, "error": str(exc)}
        return {"ended": False, "time": time.time(), "run": status.run, "watched": edges.watched,
                "instances": [i._asdict() for i in status.instances.values()],
                "edges": [e.as_dict() for e in edges.edges], "logs": logs}  # fmt: skip


def make_server(run: RunInfo, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """The server (not yet serving) and the URL to open, token included."""
    token = secrets.token_urlsafe(24)
    page = files("orchestrator.web").joinpath("page.html").read_text(encoding="utf-8")
    csp = _csp(page)
    state = State(ControlClient(run, timeout=5.0))

    class Handler(BaseHTTPRequestHandler):
        server_version = "zmqrun-web"
        sys_version = ""

        def do_GET(self) -> None:  # http.server's name
            url = urlsplit(self.path)
            given = parse_qs(url.query).get("t", [""])[0]
            if not hmac.compare_digest(given.encode(), token.encode()):
                self._send(403, "text/plain; charset=utf-8", b"forbidden: open the URL zmqrun web printed\n")
            elif url.path == "/":
                self._send(200, "text/html; charset=utf-8", page.encode())
            elif url.path == "/state":
                self._send(200, "application/json", state.get())
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", csp)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the terminal shows the URL, not every poll

    httpd = ThreadingHTTPServer((HOST, port), Handler)
    httpd.daemon_threads = True
    return httpd, f"http://{HOST}:{httpd.server_address[1]}/?t={token}"


def serve(ref: str | None) -> int:
    """Serve until the run ends or Ctrl-C."""
    run = resolve(ref)
    httpd, url = make_server(run)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    try:  # Ctrl-C from the moment the URL is out ends the server (status 0), as it ends `logs -f`
        print(f"zmqrun web: run {run.run_id} ({one_line(run.name)}) at {url}", flush=True)
        print("read-only; the token in the URL is the only key to it. Ctrl-C to stop.", file=sys.stderr, flush=True)
        while is_alive(run.rundir):
            time.sleep(0.5)
        print(f"run {run.run_id} ended", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.shutdown()
        httpd.server_close()
    return ExitStatus.OK
