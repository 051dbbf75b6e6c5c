"""Acceptance: our εxodus tracker sets equal exodus-core's on every corpus APK.

The reference is exodus-core 1.3.15 + Debian ``dexdump`` in its own venv (``.venv-exodus``, made by
``scripts/appcheck-peers.sh``), with signatures from the same εxodus JSON (no network).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from mingyue.enablers.appcheck.engine import Report, load_catalogue
from mingyue.enablers.appcheck.engine.archive import ArchiveCaps
from mingyue.enablers.appcheck.engine.exodus import CLASS_RE, classes_in, header_classes
from mingyue.enablers.appcheck.engine.extract import _dex_sets

REPO = Path(__file__).resolve().parents[4]
PEER = REPO / "bench" / "appcheck_exodus_peer.py"
PEER_PY = REPO / ".venv-exodus" / "bin" / "python"


@pytest.fixture(scope="module")
def exodus_results(apk_dir: Path, rule_src: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not PEER_PY.exists():
        print(
            f"SKIP reason: exodus-core peer venv missing at {PEER_PY}; "
            "run scripts/appcheck-peers.sh"
        )
        pytest.skip(f"exodus-core peer venv missing at {PEER_PY}; run scripts/appcheck-peers.sh")
    if shutil.which("dexdump") is None:
        pytest.skip("Debian dexdump not installed; run scripts/appcheck-peers.sh")
    apks = sorted(str(p) for p in apk_dir.glob("*.apk"))
    out = subprocess.run(
        [str(PEER_PY), str(PEER), str(rule_src / "exodus_trackers.json"), *apks, "--classes"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return {Path(d["file"]).name: d for d in map(json.loads, out.stdout.splitlines())}


def test_tracker_sets_equal_exodus_core(exodus_results: dict, corpus_results: dict) -> None:
    compared = 0
    for name, ref in exodus_results.items():
        ours = corpus_results[name]
        if "error" in ref:
            continue  # exodus-core itself cannot open it (we refuse it too, see test_corpus)
        if isinstance(ours, Report):
            assert sorted(t["id"] for t in ours.exodus_trackers) == ref["trackers"], name
            compared += 1
    assert compared >= 25
    found = {n for n, r in exodus_results.items() if r.get("trackers")}
    assert len(found) >= 3  # the corpus does exercise non-empty tracker sets


def test_class_sets_equal_exodus_core(exodus_results: dict) -> None:
    """Stronger than the tracker sets: the whole class list exodus-core builds is reproduced."""
    for name, ref in exodus_results.items():
        if "classes" not in ref:
            continue
        with zipfile.ZipFile(ref["file"]) as zf:
            dexes, _ = _dex_sets(zf, ArchiveCaps(), 0, [1 << 40])
        ours: set[str] = set()
        for member, dx in dexes:
            ours |= header_classes(member.split("!")[-1]) | classes_in(dx.dexdump_tokens())
        assert ours == set(ref["classes"]), name


def test_dexdump_tokens_match_real_dexdump(apk_dir: Path, tmp_path: Path) -> None:
    if shutil.which("dexdump") is None:
        pytest.skip("Debian dexdump not installed")
    from mingyue.enablers.appcheck.engine.dex import DexFile

    for stem in ("exc__blooddonation", "jpush__hbuilder-hello", "ag__APK_a2dp.Vol_137"):
        with zipfile.ZipFile(apk_dir / f"{stem}.apk") as zf:
            raw = zf.read("classes.dex")
        (tmp_path / "classes.dex").write_bytes(raw)
        text = subprocess.run(
            ["dexdump", str(tmp_path / "classes.dex")], capture_output=True, check=True
        ).stdout.decode(errors="ignore")
        assert classes_in(DexFile(raw).dexdump_tokens()) | header_classes("classes.dex") >= set(
            CLASS_RE.findall(text)
        ) - header_classes(str(tmp_path / "classes.dex")), stem


def test_catalogue_carries_every_exodus_tracker(rule_src: Path) -> None:
    cat = load_catalogue()
    src = json.loads((rule_src / "exodus_trackers.json").read_text(encoding="utf-8"))["trackers"]
    assert {t.id for t in cat.trackers} == {int(k["id"]) for k in src.values()}
    assert {t.code_signature for t in cat.trackers} == {k["code_signature"] for k in src.values()}
