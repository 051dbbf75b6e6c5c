"""What the long-running roles import at start is installed by the core's declared dependencies.

The deploy test once saw `mingyue scheduler` die at start in the image (and `podman exec` into its
container answer 137 while it restarted): APScheduler's SQLAlchemy store imports
`sqlalchemy.ext.asyncio`, which needs `greenlet`, and SQLAlchemy 2.1 no longer installs it. Here
the developer's virtualenv had it through playwright (a test extra), so nothing failed locally.

Here each role's modules are imported in a fresh interpreter where every module of an installed
distribution that `[project] dependencies` in pyproject.toml does not bring (directly or through
the installed distributions' own requirements, extras excluded) cannot be imported.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLES = {
    "scheduler": "mingyue.core.scheduling.runner",
    "worker": "mingyue.core.jobs.redis_queue",
    "cli": "mingyue.cli",
    "migrate": "mingyue.core.migrate",
}
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared_closure() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [_norm(m.group(1)) for r in project["dependencies"] if (m := _NAME.match(r))]
    seen: set[str] = set()
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            reqs = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue
        for req in reqs:
            if "extra ==" in req.replace("extra==", "extra =="):
                continue
            m = _NAME.match(req)
            if m:
                todo.append(_norm(m.group(1)))
    return seen


_CHILD = """
import importlib.abc, json, sys
blocked = frozenset(json.loads(sys.argv[1]))
class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
before = set(sys.modules)
import importlib
importlib.import_module(sys.argv[2])
print(json.dumps(sorted({m.partition(".")[0] for m in set(sys.modules) - before})))
"""


def _import_with_only(module: str, blocked: set[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(sorted(blocked)), module],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _undeclared_modules() -> set[str]:
    """Top-level modules installed here by distributions outside the declared closure."""
    closure = _declared_closure() | {"mingyue"}
    return {
        top
        for top, dists in metadata.packages_distributions().items()
        if not {_norm(d) for d in dists} & closure
    }


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_role_starts_with_only_the_declared_dependencies(role: str) -> None:
    # Every module of a distribution that pyproject.toml's dependencies do not install is made
    # unimportable (as in the image with no extra); the role's modules must still import.
    r = _import_with_only(ROLES[role], _undeclared_modules())
    assert r.returncode == 0, (
        f"`{ROLES[role]}` needs a module that the declared dependencies do not install:\n"
        + r.stderr.strip().splitlines()[-1]
    )


def test_the_check_sees_the_scheduler_needs_greenlet() -> None:
    # The case that was missing: APScheduler's store loads greenlet through SQLAlchemy's asyncio.
    assert "greenlet" in _declared_closure()
    r = _import_with_only(ROLES["scheduler"], _undeclared_modules() | {"greenlet"})
    assert r.returncode != 0 and "greenlet" in r.stderr
