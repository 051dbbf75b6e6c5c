"""Fixtures for appcheck tests: the shared APK corpus (never copied into the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
APKS = REPO.parent / "shared" / "data" / "apks"
RULE_SRC = REPO.parent / "shared" / "data" / "appcheck"
EXODUS_VENV = REPO / ".venv-exodus"


@pytest.fixture(scope="session")
def apk_dir() -> Path:
    """The shared APK corpus (../shared/data/apks); skip when it is absent."""
    if not APKS.is_dir():
        pytest.skip(f"shared APK corpus not found at {APKS}")
    return APKS


@pytest.fixture(scope="session")
def rule_src() -> Path:
    """The shared public rule sets (../shared/data/appcheck); skip when absent."""
    if not (RULE_SRC / "exodus_trackers.json").is_file():
        pytest.skip(f"shared rule sources not found at {RULE_SRC}")
    return RULE_SRC


@pytest.fixture(scope="session")
def find_apk(apk_dir: Path):
    """Return a function finding a corpus file by name (files may carry a source prefix)."""

    def find(stem: str) -> Path:
        hits = sorted(apk_dir.glob(f"*{stem}*.apk"))
        if not hits:
            pytest.skip(f"{stem} not in the APK corpus")
        return hits[0]

    return find


@pytest.fixture(scope="session")
def corpus_results(apk_dir: Path) -> dict[str, object]:
    """Scan every corpus APK once: file name -> Report or the AppcheckError it raised."""
    from mingyue.enablers.appcheck.engine import AppcheckError, analyze_apk, iter_apks

    out: dict[str, object] = {}
    for path in iter_apks(apk_dir):
        try:
            out[path.name] = analyze_apk(path)
        except AppcheckError as exc:
            out[path.name] = exc
    return out
