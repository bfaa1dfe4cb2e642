"""The shipped topologies travel with the package: listed, printed, copied out, and run from a wheel."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.commands import examples

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.stem for p in (ROOT / "topologies").glob("*.yaml"))


def test_every_shipped_topology_is_an_example_with_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert examples.names() == SHIPPED
    assert main(["examples"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == SHIPPED
    assert all(len(line.split(None, 1)) == 2 for line in lines), "every example has a one-line description"


def test_print_one_and_refuse_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["examples", "pipeline"]) == 0
    assert capsys.readouterr().out == (ROOT / "topologies" / "pipeline.yaml").read_text()
    assert main(["examples", "nope"]) == 1
    assert "no example named 'nope'" in capsys.readouterr().err


def test_copy_writes_topologies_and_scripts_and_never_overwrites(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["examples", "--copy", str(tmp_path)]) == 0
    assert sorted(p.stem for p in (tmp_path / "topologies").glob("*.yaml")) == SHIPPED
    assert (tmp_path / "topologies/scripts/fixed_rep.py").read_bytes() == (ROOT / "topologies/scripts/fixed_rep.py").read_bytes()
    capsys.readouterr()
    assert main(["examples", "--copy", str(tmp_path)]) == 1
    assert "not overwriting" in capsys.readouterr().err


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


@pytest.mark.timeout(600)
def test_wheel_in_a_fresh_venv_copies_and_runs_examples_outside_the_checkout(tmp_path: Path) -> None:
    """pip install zmqrun && zmqrun examples --copy . && zmqrun topologies/pipeline.yaml, without the source tree.

    The wheel is built as pip builds it (an isolated build environment with setuptools from the
    package index). The fresh venv sees this environment's site-packages only for the
    dependencies (pyzmq, pyyaml, psutil, rich), so nothing else is downloaded; zmqrun itself
    comes from the wheel alone."""
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, timeout=300)  # fmt: skip
    assert build.returncode == 0, build.stderr
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # the dependencies, not zmqrun: a .pth pointing at this environment's site-packages
    purelib = Path(sysconfig.get_paths()["purelib"])
    (next((venv / "lib").glob("python*/site-packages")) / "deps.pth").write_text(f"{purelib}\n")
    wheel = next(wheels.glob("zmqrun-*.whl"))
    install = subprocess.run([_venv_python(venv), "-m", "pip", "install", "-q", "--no-index", "--no-deps", str(wheel)],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert install.returncode == 0, install.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    zmqrun = str(venv / "bin" / "zmqrun")
    where = subprocess.run([_venv_python(venv), "-c", "import orchestrator; print(orchestrator.__file__)"],
                           cwd=work, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert where.stdout.startswith(str(venv)), "zmqrun must come from the wheel, not the checkout"
    copied = subprocess.run([zmqrun, "examples", "--copy", "."], cwd=work, env=env, capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    for name, says in (("pipeline", "Total elapsed time"), ("user-scripts", "reply 5: World")):
        # a built-in node program, and unmodified scripts that sit beside the topology
        ran = subprocess.run([zmqrun, "--no-color", f"topologies/{name}.yaml"], cwd=work, env=env, capture_output=True,
                             text=True, timeout=180)  # fmt: skip
        assert ran.returncode == 0 and says in ran.stdout, ran.stdout[-2000:] + ran.stderr[-2000:]
