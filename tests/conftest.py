"""Shared fixtures come from the mingyue.testing plugin; this file only schedules parallel runs.

Under pytest-xdist with ``--dist loadgroup`` (what ``./scripts/test`` uses, see docs/testing.md),
tests that share an expensive fixture run on one worker, so that the fixture is built once and
two workers never start the same engine side by side:

- a test using a module- or class-scoped fixture stays with the rest of its module;
- a test using one of ``SHARED_SESSION_FIXTURES`` joins that fixture's group (a private Slurm
  cluster and a Ray head per worker would cost more than the parallelism gains on two cores).

An explicit ``@pytest.mark.xdist_group`` on a test wins.

A test that asserts real-time behaviour (a one-second scheduler grid) runs alone: marked
``@pytest.mark.serial`` or listed in ``SERIAL_MODULES``, it waits until the tests running on the
other workers finish, and they wait for it (a readers-writer lock over two files).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Generator
from pathlib import Path

import pytest

pytest_plugins = ["mingyue.testing"]

# session-scoped fixture -> group: the fixtures whose set-up costs seconds to minutes
SHARED_SESSION_FIXTURES = {
    "slurm_cluster": "compute-engines",  # slurmctld + slurmd + MariaDB + slurmdbd
    "ray_head": "compute-engines",  # a Ray head node (GiBs of memory)
    "corpus_results": "appcheck-corpus",  # scans every APK of the shared corpus
    "demo_files": "datasandbox-demo",  # 400 generated enterprises
    "demo_datasets": "datasandbox-demo",
    "sandbox": "datasandbox-demo",  # a DuckDB sandbox process
}

# modules whose tests time real processes against the wall clock: under a parallel run they
# missed due seconds while the other workers loaded the two cores (seen with -n 3)
SERIAL_MODULES = frozenset({"tests/core/test_scheduling.py"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "serial: runs alone under pytest-xdist (asserts wall-clock timing)"
    )


def is_serial(item: pytest.Item) -> bool:
    """Tell whether the test must not share the machine with other tests of a parallel run."""
    return (
        item.get_closest_marker("serial") is not None
        or item.nodeid.split("::", 1)[0] in SERIAL_MODULES
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if not run:
        return (yield)
    locks = Path(tempfile.gettempdir()) / f"mingyue-pytest-{run}"
    locks.mkdir(exist_ok=True)
    alone = is_serial(item)
    # the turnstile gives a waiting serial test priority: new tests queue behind it
    with (locks / "turnstile").open("a") as gate, (locks / "room").open("a") as room:
        fcntl.flock(gate, fcntl.LOCK_EX)
        if not alone:
            fcntl.flock(gate, fcntl.LOCK_UN)
        fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            return (yield)
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
            if alone:
                fcntl.flock(gate, fcntl.LOCK_UN)


def xdist_group_of(item: pytest.Item) -> str | None:
    """Return the xdist group of a test from the fixtures it uses, or None to run anywhere."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    for name in item.fixturenames:  # type: ignore[attr-defined]
        if name in SHARED_SESSION_FIXTURES:
            return SHARED_SESSION_FIXTURES[name]
    for defs in info.name2fixturedefs.values():
        if any(d.scope in ("module", "class") for d in defs):
            return f"module:{item.nodeid.split('::', 1)[0]}"
    return None


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Name a gzip member by its size: its header holds the compression time (RFC 1952 2.3.1).

    xdist workers must collect identical test ids; ``gzip.compress(data)`` differs each second.
    """
    if isinstance(val, bytes) and val[:2] == b"\x1f\x8b":
        return f"gzip-{len(val)}-bytes"
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: xdist turns the marks into node-id suffixes in its own hook of the same name
    if not config.pluginmanager.hasplugin("xdist") or config.getoption("dist", "no") != "loadgroup":
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        group = xdist_group_of(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
