"""Real engines for the compute tests: a private single-node Slurm and a Ray head.

Both are session-scoped, live in a temp dir on their own ports, and are stopped by the PIDs
they started. When an engine truly cannot start here, the tests that need it skip and print
why (``-ra`` shows the reason).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from mingyue.enablers.compute.adapters.devcluster import (
    EngineStartError,
    RayDevHead,
    SlurmDevCluster,
)


def pytest_configure(config: pytest.Config) -> None:
    # Ray's client libraries import modules that warn at import time (not our code):
    # google.protobuf/opentelemetry deprecations seen with ray 2.60.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:google.*")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:opentelemetry.*")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:ray.*")


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmDevCluster]:
    root = tmp_path_factory.mktemp("slurm")
    cluster = SlurmDevCluster(root)
    try:
        cluster.start()
    except (EngineStartError, OSError) as exc:
        print(f"\n[compute] Slurm could not start: {exc}")
        pytest.skip(f"Slurm could not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayDevHead]:
    if importlib.util.find_spec("ray") is None:
        print("\n[compute] ray is not installed (pip install 'mingyue[ray]')")
        pytest.skip("ray is not installed (pip install 'mingyue[ray]')")
    head = RayDevHead(Path(tmp_path_factory.mktemp("ray")))
    try:
        head.start()
    except (EngineStartError, OSError) as exc:
        print(f"\n[compute] Ray could not start: {exc}")
        pytest.skip(f"Ray could not start: {exc}")
    yield head
    head.stop()
