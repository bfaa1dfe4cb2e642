"""`zmqrun examples`: the shipped topologies, installed with the package: list, show, copy out."""

from __future__ import annotations

import os
import shutil
from importlib import resources
from importlib.abc import Traversable

from orchestrator.errors import ZmqrunError

FOLDER = "topologies"  # what `--copy DIR` creates, so `zmqrun topologies/pipeline.yaml` runs as in the README


def _root() -> Traversable:
    return resources.files("orchestrator") / "examples"


def names() -> list[str]:
    return sorted(f.name.removesuffix(".yaml") for f in _root().iterdir() if f.name.endswith(".yaml"))


def text(name: str) -> str:
    name = name.removesuffix(".yaml")
    if name not in names():
        from orchestrator.topology.reader import did_you_mean

        raise ZmqrunError(f"no example named {name!r}{did_you_mean(name, names())}; `zmqrun examples` lists them")
    return (_root() / f"{name}.yaml").read_text(encoding="utf-8")


def listing() -> list[tuple[str, str]]:
    """(name, one-line description) of each example, read from its `description:` key."""
    import yaml

    out = []
    for name in names():
        data = yaml.safe_load(text(name))
        out.append((name, str(data.get("description", "")).split("\n")[0] if isinstance(data, dict) else ""))
    return out


def copy(dest: str) -> list[str]:
    """Write every example (and the scripts they run) under DEST/topologies; never overwrite."""
    target = os.path.join(dest, FOLDER)
    plan: list[tuple[Traversable, str]] = []

    def gather(node: Traversable, out: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                if child.name != "__pycache__":
                    gather(child, os.path.join(out, child.name))
            elif child.name.endswith((".yaml", ".py")):
                plan.append((child, os.path.join(out, child.name)))

    gather(_root(), target)
    clash = [path for _, path in plan if os.path.lexists(path)]
    if clash:
        raise ZmqrunError(f"not overwriting {len(clash)} existing file(s), e.g. {clash[0]}; copy into an empty folder")
    for source, path in plan:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with source.open("rb") as src, open(path, "xb") as dst:
            shutil.copyfileobj(src, dst)
    return sorted(path for _, path in plan)
