"""Signature verdicts of appcheck vs ``apksigner verify`` on the shared APK corpus (+ tampered copies).

    .venv/bin/python bench/appcheck_signatures.py [APK_DIR] [--json OUT]

For every APK of APK_DIR (default ../shared/data/apks) and for three tampered copies built in a
temporary folder (an entry changed after v1 signing, one byte flipped under a v2 signature, the
v2 block stripped from a v1+v2 APK), runs ``apksigner verify --verbose`` (Debian ``apksigner``,
the AOSP reference; exit 0 = "Verifies") and appcheck's verifier
(``engine.apksig.verify_apk`` with the manifest's minSdkVersion, as apksigner reads it), prints
one table row per file with both verdicts and the time each took, and exits 1 on any disagreement
(2 when apksigner is missing). Install the peer with ``scripts/appcheck-peers.sh``.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO.parent / "shared" / "data" / "apks"


def manifest_min_sdk(path: Path) -> int | None:
    """minSdkVersion from the binary manifest (None without a readable manifest, like apksigner)."""
    from androguard.core.axml import AXMLPrinter
    from loguru import logger

    logger.remove()
    try:
        with zipfile.ZipFile(path) as zf:
            raw = zf.read("AndroidManifest.xml")
    except (KeyError, zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return None
    ap = AXMLPrinter(raw)
    root = ap.get_xml_obj() if ap.is_valid() else None
    if root is None:
        return None
    el = root.find("uses-sdk")
    value = (
        el.get("{http://schemas.android.com/apk/res/android}minSdkVersion")
        if el is not None
        else None
    )
    try:
        return int(str(value), 0) if value is not None else 1
    except ValueError:
        return 1


def tampered(corpus: list[Path], tmp: Path) -> list[Path]:
    """Build tampered copies from real corpus APKs (skipped when no suitable source exists)."""
    from mingyue.enablers.appcheck.engine.apksig import verify_apk
    from mingyue.enablers.appcheck.engine.apksig.zipsections import ZipSectionsError, find_sections

    out: list[Path] = []
    v1_only = next((p for p in corpus if "politedroid" in p.name), None)
    if v1_only:
        dst = tmp / "tampered-v1-entry-changed.apk"
        with zipfile.ZipFile(v1_only) as src, zipfile.ZipFile(dst, "w") as zout:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "classes.dex":
                    data = data[:-1] + bytes([data[-1] ^ 1])
                zout.writestr(info, data)
        out.append(dst)
    v2_signed: list[tuple[Path, bool]] = []
    for p in corpus:
        try:
            with p.open("rb") as fh:
                sec = find_sections(fh, p.stat().st_size)
        except ZipSectionsError:
            continue
        if sec.block_offset is not None and 0x7109871A in sec.pairs:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
            # only sources that verify untouched, so the tampering is what fails them
            if verify_apk(str(p), manifest_min_sdk(p)).verified:
                v2_signed.append((p, any(n.upper().endswith(".SF") for n in names)))
    # a byte flipped under a v2-only signature: only the v2 content digest can catch it
    flip = next((p for p, v1 in v2_signed if not v1), None)
    if flip:
        with flip.open("rb") as fh:
            sec = find_sections(fh, flip.stat().st_size)
        raw = bytearray(flip.read_bytes())
        raw[sec.block_offset // 2] ^= 0x01  # inside the entries section, covered by v2
        (tmp / "tampered-v2-byte-flipped.apk").write_bytes(raw)
        out.append(tmp / "tampered-v2-byte-flipped.apk")
    # the v2 block removed from a v1+v2 APK: the .SF's X-Android-APK-Signed must catch it
    strip = next((p for p, v1 in v2_signed if v1), None)
    if strip:
        with strip.open("rb") as fh:
            sec = find_sections(fh, strip.stat().st_size)
        assert sec.block_offset is not None
        raw = bytearray(strip.read_bytes())
        stripped = raw[: sec.block_offset] + raw[sec.cd_offset :]
        eocd = sec.eocd_offset - (sec.cd_offset - sec.block_offset)
        struct.pack_into("<I", stripped, eocd + 16, sec.block_offset)
        (tmp / "tampered-v2-stripped.apk").write_bytes(stripped)
        out.append(tmp / "tampered-v2-stripped.apk")
    return out


def apksigner(path: Path) -> tuple[bool, str, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["apksigner", "verify", "--verbose", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    text = (proc.stdout + proc.stderr).strip().splitlines()
    why = next((ln for ln in text if ln.startswith(("ERROR", "Exception", "Verifies"))), "")
    return proc.returncode == 0, why[:90], time.perf_counter() - t0


def main(argv: list[str]) -> int:
    from mingyue.enablers.appcheck.engine.apksig import verify_apk

    apk_dir = Path(argv[0]) if argv and not argv[0].startswith("--") else DEFAULT_DIR
    out_json = Path(argv[argv.index("--json") + 1]) if "--json" in argv else None
    if shutil.which("apksigner") is None:
        sys.stderr.write("apksigner not installed (apt-get install -y apksigner)\n")
        return 2
    corpus = sorted(apk_dir.glob("*.apk"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="appcheck-sig-") as tmp:
        for path in corpus + tampered(corpus, Path(tmp)):
            t0 = time.perf_counter()
            v = verify_apk(str(path), manifest_min_sdk(path))
            ours_s = time.perf_counter() - t0
            theirs, why, theirs_s = apksigner(path)
            rows.append(
                {
                    "file": path.name,
                    "apksigner": theirs,
                    "appcheck": v.verified,
                    "agree": theirs == v.verified,
                    "schemes": v.schemes,
                    "problem": (v.problems or [""])[0][:90],
                    "apksigner_says": why,
                    "appcheck_s": round(ours_s, 4),
                    "apksigner_s": round(theirs_s, 3),
                }
            )
    w = max(len(r["file"]) for r in rows)
    print(f"{'file':<{w}}  apksigner  appcheck  agree  appcheck problem")
    for r in rows:
        print(
            f"{r['file']:<{w}}  {'verifies' if r['apksigner'] else 'FAILS':<9}  "
            f"{'verifies' if r['appcheck'] else 'FAILS':<8}  {'yes' if r['agree'] else 'NO':<5}  "
            f"{r['problem']}"
        )
    bad = [r for r in rows if not r["agree"]]
    ours = sum(r["appcheck_s"] for r in rows)
    theirs = sum(r["apksigner_s"] for r in rows)
    print(
        f"\n{len(rows) - len(bad)}/{len(rows)} verdicts equal; "
        f"time appcheck {ours:.2f} s vs apksigner {theirs:.2f} s (JVM start included) "
        f"= {theirs / max(ours, 1e-9):.1f}x"
    )
    if out_json:
        out_json.write_text(json.dumps(rows, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
