"""The engine's entry point: one APK (or split container) in, one :class:`Report` out."""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .archive import ArchiveCaps, ArchiveInfo, inspect_archive
from .catalogue import Catalogue, load_catalogue
from .disclosure import read_policy_text
from .errors import AppcheckError, NotAnAndroidApp, SplitApkRefused
from .formats import package_kind
from .report import Report, build_report
from .rulesets import RuleSets, load_rulesets
from .sandbox import SandboxLimits, run_parser

APK_SUFFIXES = (".apk", ".apks", ".xapk", ".apkm", ".hap", ".app", ".ipa")


@dataclass(frozen=True)
class AnalysisOptions:
    """Caps and limits of one analysis."""

    caps: ArchiveCaps = field(default_factory=ArchiveCaps)
    limits: SandboxLimits = field(default_factory=SandboxLimits)


def sha256_file(path: str | Path) -> str:
    """Return the hex SHA-256 of a file (streamed)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _merge(base: dict[str, Any], other: dict[str, Any]) -> None:
    for key in (
        "packages",
        "native_libs",
        "urls",
        "exodus_tracker_ids",
        "privacy_evidence",
        "sdk_list_evidence",
        "privacy_assets",
        "warnings",
    ):
        base[key] = sorted(set(base.get(key, [])) | set(other.get(key, [])), key=str)
    base["dex_members"] = base.get("dex_members", []) + other.get("dex_members", [])
    base["secrets"] = base.get("secrets", []) + other.get("secrets", [])
    base["_worker_maxrss_kb"] = max(
        base.get("_worker_maxrss_kb", 0), other.get("_worker_maxrss_kb", 0)
    )


def _split_facts(
    info: ArchiveInfo, catalogue: Catalogue, options: AnalysisOptions
) -> tuple[dict[str, Any], list[str]]:
    """Analyse each inner APK of a .apks/.xapk container; merge them onto the base APK."""
    inner = info.inner_apks
    if len(inner) > options.caps.max_inner_apks:
        raise SplitApkRefused(
            f"Split container holds {len(inner)} APKs, "
            f"over the cap of {options.caps.max_inner_apks}.",
            count=len(inner),
        )
    results: list[tuple[str, dict[str, Any]]] = []
    with (
        tempfile.TemporaryDirectory(prefix="appcheck-split-") as tmp,
        zipfile.ZipFile(info.path) as zf,
    ):
        for i, name in enumerate(inner):
            # our own file name: entry names are never used as paths
            target = os.path.join(tmp, f"inner-{i}.apk")
            with zf.open(name) as src, open(target, "wb") as dst:
                left = options.caps.max_entry_uncompressed
                while chunk := src.read(1 << 20):
                    left -= len(chunk)
                    if left < 0:
                        raise SplitApkRefused(f"Inner APK {name!r} inflates past the cap.")
                    dst.write(chunk)
            try:
                inspect_archive(target, options.caps)
                facts = run_parser(
                    target, options.caps, catalogue.tracker_signatures(), options.limits
                )
            except AppcheckError as exc:
                raise SplitApkRefused(
                    f"Inner APK {name!r} of the split container was refused: {exc.message}",
                    inner=name,
                    reason=exc.key,
                ) from exc
            results.append((name, facts))
    bases = [r for r in results if r[1].get("components") or r[1].get("permissions")]
    base_name, base = next(
        (r for r in bases if os.path.basename(r[0]).lower() in ("base.apk", "base-master.apk")),
        bases[0] if bases else results[0],
    )
    base = dict(base)
    for name, facts in results:
        if name != base_name:
            _merge(base, facts)
    return base, [n for n, _ in results]


def analyze_apk(
    path: str | Path,
    *,
    app_type: str | None = None,
    policy: bytes | None = None,
    options: AnalysisOptions | None = None,
    catalogue: Catalogue | None = None,
    rules: RuleSets | None = None,
) -> Report:
    """Analyse one APK (or .apks/.xapk container) and return its compliance report.

    Raises an :class:`~.errors.AppcheckError` subclass for any bad input (never a bare crash).
    """
    options = options or AnalysisOptions()
    p = Path(path)
    # the archive guard runs first: a refused file costs a central-directory read, nothing more
    info = inspect_archive(p, options.caps)
    catalogue = catalogue or load_catalogue()
    rules = rules or load_rulesets()
    atype = rules.app_type(app_type) if app_type else None
    policy_text = read_policy_text(policy) if policy is not None else None
    split: list[str] = []
    names = [e.name for e in info.entries]
    if info.has_manifest or package_kind(names) != "apk":
        facts = run_parser(str(p), options.caps, catalogue.tracker_signatures(), options.limits)
    elif info.inner_apks:
        facts, split = _split_facts(info, catalogue, options)
    else:
        raise NotAnAndroidApp(
            "The archive has no AndroidManifest.xml, module.json or Payload/*.app/Info.plist "
            "and no inner APKs: not an Android, HarmonyOS or iOS app."
        )
    report = build_report(
        facts=facts,
        catalogue=catalogue,
        rules=rules,
        sha256=sha256_file(p),
        file_name=p.name,
        size=info.size,
        app_type=atype,
        policy_text=policy_text,
    )
    report.split_apks = split
    return report


def iter_apks(directory: str | Path) -> Iterator[Path]:
    """Yield the APK-like files of a directory (sorted, not recursive)."""
    for entry in sorted(Path(directory).iterdir()):
        if entry.is_file() and entry.suffix.lower() in APK_SUFFIXES:
            yield entry
