"""CURVE in real runs on loopback: shipped topologies with `security: curve`, peers without the
run's keys refused and reported, no secret in any output, key files gone after every end."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading

import psutil
import pytest
import zmq
from conftest import ROOT, run_marker_pids, wait_for

from orchestrator.security.redact import REDACTED, spellings

PY = sys.executable


@pytest.mark.parametrize("name", ["pipeline", "pubsub"])
def test_shipped_topology_passes_its_expect_block_with_curve(zmqrun, name):
    text = "security: curve\n" + (ROOT / "topologies" / f"{name}.yaml").read_text()
    path = zmqrun.write(text, f"{name}.yaml")
    result = zmqrun.run("test", "-v", str(path), timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"PASS {name}" in result.stdout
    assert re.search(r"security: CURVE on [1-9]\d* connections, [1-9]\d* key pairs made for this run", result.stdout)
    assert "handshake failed" not in result.stdout


SERVER = """\
from orchestrator.node import Node
with Node() as node:
    inbox = node.socket("inbox")
    node.ready()
    while True:
        print("got", node.recv_string(inbox), flush=True)
"""

CLIENT = """\
from orchestrator.node import Node
with Node() as node:
    out = node.socket("out")
    i = 0
    while True:
        out.send_string(f"legit {i}")
        i += 1
        node.sleep(0.05)
"""

GUARDED = f"""\
security: curve
nodes:
  server:
    run: [{PY}, server.py]
    ready: helper
    sockets:
      inbox: {{type: PULL, bind: true}}
  client:
    run: [{PY}, client.py]
    sockets:
      out: {{type: PUSH, connect: server.inbox}}
"""


class Lines:
    """zmqrun's stdout, read as it comes by a thread."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def find(self, pattern: str, start: int = 0) -> re.Match[str] | None:
        return next((m for line in self.lines[start:] if (m := re.search(pattern, line))), None)


def rogue(endpoint: str, kind: str, server_key: bytes) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.linger = 0
    if kind != "null":
        public, secret = zmq.curve_keypair()  # keys of its own, never this run's
        sock.curve_publickey, sock.curve_secretkey = public, secret
        sock.curve_serverkey = server_key if kind == "unknown-client" else zmq.curve_keypair()[0]
    sock.connect(endpoint)
    for _ in range(5):
        try:
            sock.send_string(f"rogue {kind}", zmq.NOBLOCK)
        except zmq.Again:
            pass
    return sock


def test_clients_without_the_runs_keys_are_refused_and_reported_within_2s(zmqrun, tmp_path):
    zmqrun.write(SERVER, "server.py")
    zmqrun.write(CLIENT, "client.py")
    proc = zmqrun.start(str(zmqrun.write(GUARDED)))
    out = Lines(proc.stdout)
    wait_for(lambda: out.find(r"^server\.1 +\| got legit"), timeout=30)
    endpoint = out.find(r"started server\.1 \(pid \d+\) inbox=(tcp://\S+)").group(1)
    client_pid = int(out.find(r"started client\.1 \(pid (\d+)\)").group(1))
    server_key = psutil.Process(client_pid).environ()["ZMQRUN_SOCKET_OUT_SERVERKEY"].encode()
    reasons = {  # a NULL client may hang up first, having seen the server's CURVE greeting: a race in libzmq
        "null": r"the peer does not speak CURVE|the peer broke off the handshake",
        "wrong-server-key": re.escape("did not decrypt (a client with the wrong server key?)"),
        "unknown-client": re.escape("the peer's key is not one of this run's"),
    }
    rogues = []
    for kind, reason in reasons.items():
        start = len(out.lines)
        rogues.append(rogue(endpoint, kind, server_key))
        # The bound, asserted as it stands: the report takes milliseconds here, so 2 s is
        # ample slack even on this loaded 2-core machine.
        pattern = rf"zmqrun +\| handshake failed on server\.1 inbox \({re.escape(endpoint)}\): .*({reason})"
        try:
            line = wait_for(lambda pattern=pattern, start=start: out.find(pattern, start), timeout=2.0)
        except AssertionError:
            raise AssertionError(
                f"{kind}: no report within 2 s; {[x for x in out.lines if 'handshake' in x]}"
            ) from None
        assert "nothing it sent was delivered" in line.string
    legit_before = sum("got legit" in line for line in out.lines)
    wait_for(lambda: sum("got legit" in line for line in out.lines) > legit_before + 5, timeout=10)  # still flowing
    for sock in rogues:
        sock.close()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    text = "\n".join(out.lines)
    assert "got rogue" not in text  # refused peers delivered nothing
    assert not re.search(r"handshake failed on client", text)  # the run's own edge was never refused
    run_id = re.search(r"run (zr-[0-9a-f]+)", text).group(1)
    assert run_marker_pids(run_id) == []


LEAKY = """\
import base64, os, sys
from zmq.utils import z85
path = os.environ["ZMQRUN_CURVE_SECRETKEY_FILE"]
secret = open(path).read().strip()
with open(sys.argv[1], "a") as f:  # the test's side channel, outside every output of zmqrun
    f.write(secret + "\\n")
raw = z85.decode(secret.encode())
print("my secret is", secret)
print("hex", raw.hex(), "HEX", raw.hex().upper())
print("b64", base64.b64encode(raw).decode())
print("modes", oct(os.stat(os.path.dirname(path)).st_mode & 0o777), oct(os.stat(path).st_mode & 0o777))
sys.exit(1)
"""


def leaky_topology(zmqrun, tmp_path) -> str:
    zmqrun.write(LEAKY, "leaky.py")
    side = tmp_path / "secrets.txt"
    return str(
        zmqrun.write(f"""\
        security: curve
        nodes:
          server:
            run: [{PY}, leaky.py, {side}]
            ready: started
            sockets:
              inbox: {{type: PULL, bind: true}}
          client:
            run: [{PY}, leaky.py, {side}]
            ready: started
            sockets:
              out: {{type: PUSH, connect: server.inbox}}
        """)
    )  # no expect block: the run ends when both have ended (exit 1, so `zmqrun test` shows their last lines)


def test_no_secret_key_in_any_output_mode(zmqrun, tmp_path):
    path = leaky_topology(zmqrun, tmp_path)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {"TMPDIR": str(tmpdir)}
    outputs = []
    for args in (["run", path], ["run", "--json", "--timestamps", "--log-dir", str(tmp_path / "logs"), path],
                 ["test", path], ["test", "-v", path], ["check", path]):  # fmt: skip
        result = zmqrun.run(*args, env=env, timeout=60)
        outputs.append(result.stdout + result.stderr)
        assert args[0] == "check" or result.returncode == 1, result.stdout + result.stderr
    logs = sorted((tmp_path / "logs").iterdir())
    assert {p.name for p in logs} == {"server.1.log", "client.1.log", "zmqrun.log"}
    outputs += [p.read_text() for p in logs]
    secrets = (tmp_path / "secrets.txt").read_text().split()
    assert len(secrets) == 2 * 4  # two instances in each of the four runs, each with a fresh pair
    forms = [form for secret in secrets for form in spellings(secret)]
    for text in outputs:
        assert not [form for form in forms if form in text]
    joined = "\n".join(outputs)
    assert "my secret is " + REDACTED in joined and "hex " + REDACTED + " HEX " + REDACTED in joined
    assert "b64 " + REDACTED in joined
    assert "modes 0o700 0o600" in joined  # private directory, private files
    assert list(tmpdir.iterdir()) == []  # every run removed its keys


def test_check_prints_no_secret_of_the_keys_it_plans_with(tmp_path, monkeypatch, capsys):
    from orchestrator import cli
    from orchestrator.security import keys

    made: list[bytes] = []

    def recording() -> tuple[bytes, bytes]:
        public, secret = zmq.curve_keypair()
        made.append(secret)
        return public, secret

    monkeypatch.setattr(keys, "_make", recording)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    path = tmp_path / "t.yaml"
    path.write_text("security: curve\n" + (ROOT / "topologies" / "pipeline.yaml").read_text())
    assert cli.main(["check", str(path)]) == 0
    out = capsys.readouterr()
    assert len(made) == 4 and "ventilator.1" in out.out
    assert "security: CURVE on 5 connections, 4 key pairs made anew when the run starts" in out.out
    for secret in made:
        assert not [form for form in spellings(secret.decode()) if form in out.out + out.err]
    assert [p.name for p in tmp_path.iterdir()] == ["t.yaml"]  # check writes no key file


def test_key_files_are_removed_by_the_guardian_after_sigkill_of_zmqrun(zmqrun, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    zmqrun.write(SERVER, "server.py")
    zmqrun.write(CLIENT, "client.py")
    proc = zmqrun.start(str(zmqrun.write(GUARDED)), env={"TMPDIR": str(tmpdir)})
    out = Lines(proc.stdout)
    wait_for(lambda: out.find(r"^server\.1 +\| got legit"), timeout=30)
    (rundir,) = tmpdir.iterdir()
    assert sorted(p.name for p in (rundir / "keys").iterdir()) == ["client.1.key", "server.1.key"]
    run_id = rundir.name.removeprefix("zmqrun-")
    assert run_marker_pids(run_id)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    wait_for(lambda: not rundir.exists(), timeout=10)
    wait_for(lambda: run_marker_pids(run_id) == [], timeout=10)
    assert list(tmpdir.iterdir()) == []
