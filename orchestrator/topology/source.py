"""A topology file as the parser sees it: strictly loaded, variables substituted, includes merged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from orchestrator.errors import Problem
from orchestrator.topology import dotenv
from orchestrator.topology.include import merge_includes
from orchestrator.topology.interpolate import hide, hint, interpolate
from orchestrator.topology.loader import Document, load_file


class Source(NamedTuple):
    doc: Document
    secrets: frozenset[str]  # substituted values of secret-looking variables, for redaction
    problems: list[Problem]  # of variables and includes; the document is still parsed, so all show at once
    hints: dict[tuple[str, str], str]  # (file, path) of a substituted value -> how to write it as another type

    def with_later(self, later: list[Problem]) -> list[Problem]:
        """These problems and the parser's, less those about a value whose variable already failed;
        a secret substituted into a value that is then refused is not echoed in the message."""
        failed = {(p.file, p.path) for p in self.problems}
        problems = self.problems + [p for p in later if (p.file, p.path) not in failed]
        return [p._replace(message=hide(p.message, self.secrets) + self._hint(p)) for p in problems]

    def _hint(self, problem: Problem) -> str:
        """For a value from a variable refused for its type (`got '5558'`), how to write it."""
        kind = self.hints.get((problem.file, problem.path))
        return hint(kind, problem.message) if kind else ""


def read(path: str, env_files: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> Source:
    """Load `path` and everything it includes; an unreadable or malformed file raises TopologyError."""
    main_vars = dotenv.variables(path, env_files, environ)
    secrets: set[str] = set()
    problems: list[Problem] = []
    hints: dict[tuple[str, str], str] = {}

    def load(file: str) -> Document:
        doc = load_file(file)
        # An included file sees the main file's variables, then a .env beside it for names still unset.
        own = main_vars if file == path or env_files else {**dotenv.variables(file, (), {}), **main_vars}
        result = interpolate(doc, own)
        secrets.update(result.secrets)
        problems.extend(result.problems)
        hints.update(result.hints)
        return doc

    doc = load(path)
    problems += merge_includes(doc, load)
    return Source(doc, frozenset(secrets), problems, hints)
