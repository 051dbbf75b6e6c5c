"""Every APK of the shared corpus gives a report or a clean per-file error; labelled SDKs found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mingyue.enablers.appcheck.engine import AppcheckError, Report, load_rulesets
from mingyue.enablers.appcheck.engine.errors import MalformedArchive, NotAnAndroidApp

# AOSP apksig / androguard edge cases and what they must produce
EXPECTED_ERRORS = {
    "ag__APK_apksig_v2-only-truncated-cd.apk": MalformedArchive,
    "ag__APK_apksig_v2-only-garbage-between-cd-and-eocd.apk": MalformedArchive,
    "ag__APK_apksig_empty-unsigned.apk": NotAnAndroidApp,
    "ag__APK_CertChain.apk": NotAnAndroidApp,
    "ag__APK_multidex.apk": NotAnAndroidApp,
}


def test_every_apk_reports_or_fails_cleanly(corpus_results: dict[str, object]) -> None:
    assert len(corpus_results) >= 30
    for name, res in corpus_results.items():
        if name in EXPECTED_ERRORS:
            assert isinstance(res, EXPECTED_ERRORS[name]), (name, res)
        if isinstance(res, AppcheckError):
            assert res.key.startswith("appcheck.") and res.message, name
            assert "\n" not in res.message, name  # one line for the CLI
            continue
        assert isinstance(res, Report), (name, res)
        json.dumps(res.to_dict(load_rulesets()), ensure_ascii=False)


def test_apksig_edge_cases_with_a_valid_zip_are_analysed(corpus_results: dict[str, object]) -> None:
    for name in (
        "ag__APK_apksig_v1-only-with-nul-in-entry-name.apk",
        "ag__APK_apksig_v1-only-with-cr-in-entry-name.apk",
        "ag__APK_apksig_weird-compression-method.apk",
        "ag__APK_apksig_mismatched-compression-method.apk",
        "ag__APK_apksig_v1-only-max-sized-eocd-comment.apk",
        "ag__APK_Invalid.apk",
    ):
        res = corpus_results.get(name)
        if res is None:
            pytest.skip(f"{name} missing")
        assert isinstance(res, Report), (name, res)
        assert res.package == "android.appsecurity.cts.tinyapp" or name == "ag__APK_Invalid.apk"


def test_signature_schemes(corpus_results: dict[str, object]) -> None:
    golden = corpus_results["ag__APK_apksig_golden-aligned-v1v2v3-out.apk"]
    assert isinstance(golden, Report)
    assert (golden.signature["v1"], golden.signature["v2"], golden.signature["v3"]) == (
        True,
        True,
        True,
    )
    v1 = corpus_results["ag__APK_apksig_v1-only-with-cr-in-entry-name.apk"]
    assert isinstance(v1, Report)
    assert "SEC_V1_ONLY" in {f.rule for f in v1.findings}
    unsigned = corpus_results["ag__APK_TestActivity_unsigned.apk"]
    assert isinstance(unsigned, Report)
    assert "SEC_UNSIGNED" in {f.rule for f in unsigned.findings}
    assert all(len(c["sha256"]) == 64 for c in golden.signature["certificates"])


@pytest.mark.parametrize(
    ("stem", "sdk", "exodus"),
    [
        ("bugly__upgrade-demo", "Bugly", "Bugly"),
        ("jpush__hbuilder-hello", "JPush", "JiGuang Aurora Mobile JPush"),
        ("exc__blooddonation", "AdMob", "Google AdMob"),
    ],
)
def test_labelled_sdks_are_found(
    corpus_results: dict[str, object], find_apk, stem: str, sdk: str, exodus: str
) -> None:
    rep = corpus_results[Path(find_apk(stem)).name]
    assert isinstance(rep, Report)
    names = [h.name for h in rep.sdks] + [a for h in rep.sdks for a in h.aliases]
    assert any(sdk.lower() in n.lower() for n in names), names
    hit = next(h for h in rep.sdks if sdk.lower() in (h.name + " ".join(h.aliases)).lower())
    assert "code" in hit.matched_by
    assert exodus in {t["name"] for t in rep.exodus_trackers}


def test_sha256_and_json_keys(corpus_results: dict[str, object], find_apk) -> None:
    import hashlib

    path = find_apk("jpush__hbuilder-hello")
    rep = corpus_results[path.name]
    assert isinstance(rep, Report)
    assert rep.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    d = rep.to_dict()
    for key in (
        "sha256",
        "package",
        "permissions",
        "dangerous_permissions",
        "sdks",
        "findings",
        "incomplete",
    ):
        assert key in d
    assert set(d["sdks"][0]) >= {"name", "vendor", "category", "matched_by"}
    assert set(d["findings"][0]) >= {"rule", "category", "severity", "evidence", "source"}
    assert rep.package == "com.jpush.hbuilderdemo"
    assert "android.permission.READ_PHONE_STATE" in {p["name"] for p in d["dangerous_permissions"]}
