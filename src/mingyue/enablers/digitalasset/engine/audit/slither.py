"""Run Slither on one Solidity file through the solc-js shim; keep its raw findings and the AST.

Each file is analysed alone in a scratch folder (with the relative imports it names, never a path
outside its root), so one broken file cannot hide another's results. Slither runs in its own venv
as a subprocess with a timeout. Compilation that fails with every admissible compiler, a timeout,
or Slither's own crash is an analysis error, never "clean".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mingyue.enablers.digitalasset.engine.audit.mythril import RuntimeUnit, runtime_units
from mingyue.enablers.digitalasset.engine.audit.pragma import Version, choose, fmt, relax
from mingyue.enablers.digitalasset.engine.audit.toolchain import SHIM, Toolchain

MAX_SOURCE_BYTES = 2 * 1024 * 1024
MAX_IMPORTS = 200
_IMPORT = re.compile(r"""^\s*import\s+(?:[^;'"]*?from\s+)?["']([^"']+)["']""", re.M)


@dataclass(slots=True)
class SlitherRun:
    """Outcome of analysing one file: ``ok`` with raw detector results, or ``error`` with a reason."""

    status: str
    detectors: list[dict[str, Any]] = field(default_factory=list)
    ast: dict[str, Any] | None = None
    source: str = ""
    compiler: str | None = None
    relaxed_pragma: bool = False
    error: str | None = None
    seconds: float = 0.0
    runtime: list[RuntimeUnit] = field(default_factory=list)  # for Mythril (bytecode)


def collect_sources(target: Path, root: Path) -> dict[str, str]:
    """Return ``{relative path: text}`` for the target and the relative imports it reaches.

    Raises ValueError for an import that leaves ``root`` or is absolute, or too many files.
    """
    root = root.resolve()
    out: dict[str, str] = {}
    todo = [target.resolve()]
    while todo:
        p = todo.pop()
        try:
            rel = p.relative_to(root).as_posix()
        except ValueError as exc:
            raise ValueError(f"import outside the analysed folder: {p.name}") from exc
        if rel in out:
            continue
        if p.stat().st_size > MAX_SOURCE_BYTES:
            raise ValueError(f"{rel} is larger than {MAX_SOURCE_BYTES} bytes")
        text = p.read_bytes().decode("utf-8", errors="replace")
        out[rel] = text
        if len(out) > MAX_IMPORTS:
            raise ValueError(f"more than {MAX_IMPORTS} imported files")
        for imp in _IMPORT.findall(text):
            if imp.startswith("/") or ":" in imp:
                raise ValueError(f"absolute import refused: {imp}")
            # a package import (e.g. @openzeppelin/...) resolves from the root folder
            base = p.parent if imp.startswith(".") else root
            cand = (base / PurePosixPath(imp)).resolve()
            if not cand.is_relative_to(root):
                raise ValueError(f"import outside the analysed folder refused: {imp}")
            if not cand.is_file():
                raise ValueError(f"import not found: {imp}")
            todo.append(cand)
    return out


def _write_tree(base: Path, sources: dict[str, str], version: Version) -> None:
    for rel, text in sources.items():
        dest = base / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(relax(text, version), encoding="utf-8")


def _short(text: str, limit: int = 300) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    keep = [ln for ln in lines if "Error" in ln or "error" in ln] or lines[-3:]
    return " | ".join(keep)[:limit]


def run_slither(
    target: Path, root: Path, tools: Toolchain, *, timeout_s: float = 180.0
) -> SlitherRun:
    """Analyse ``target`` (inside ``root``) with Slither; never raises for a bad contract."""

    t0 = time.perf_counter()
    if tools.missing:
        return SlitherRun("error", error="; ".join(tools.missing))
    try:
        sources = collect_sources(target, root)
    except (ValueError, OSError) as exc:
        return SlitherRun("error", error=str(exc))
    rel_target = target.resolve().relative_to(root.resolve()).as_posix()
    text = sources[rel_target]
    choices = choose(text, tools.versions)
    last_error = "no compiler admits the pragma"
    for choice in choices:
        with tempfile.TemporaryDirectory(prefix="da-audit-") as tmp:
            base = Path(tmp)
            src = base / "src"
            _write_tree(src, sources, choice.version)
            wrapper = base / "bin" / "solc"
            wrapper.parent.mkdir()
            wrapper.write_text(f'#!/bin/sh\nexec "{tools.node}" "{SHIM}" "$@"\n')
            wrapper.chmod(0o755)
            out_json = base / "slither.json"
            solc_out = base / "solc_out.json"
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": tmp,
                "LANG": "C.UTF-8",
                "MINGYUE_SOLCJS": str(tools.solcjs[choice.version]),
                "MINGYUE_SOLC_OUT": str(solc_out),
            }
            cmd = [
                # crytic-compile takes the *.sol files of one folder (not below): the target's own
                str(tools.slither),
                str((src / rel_target).parent),
                "--solc",
                str(wrapper),
                "--solc-standard-json",
                "--json",
                str(out_json),
                "--disable-color",
            ]
            try:
                proc = subprocess.run(
                    cmd,
                    cwd=base,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return SlitherRun(
                    "error",
                    error=f"slither timed out after {timeout_s:.0f} s",
                    source=text,
                    compiler=fmt(choice.version),
                    seconds=time.perf_counter() - t0,
                )
            doc: dict[str, Any] = {}
            if out_json.is_file():
                try:
                    doc = json.loads(out_json.read_text())
                except json.JSONDecodeError:
                    doc = {}
            if doc.get("success"):
                ast, runtime = _compiled(solc_out, rel_target)
                detectors = [
                    d
                    for d in doc.get("results", {}).get("detectors", [])
                    if _touches(d, rel_target)
                ]
                # solc's byte offsets are into the text it compiled: the relaxed copy
                return SlitherRun(
                    "ok",
                    detectors=detectors,
                    ast=ast,
                    source=relax(text, choice.version),
                    compiler=fmt(choice.version),
                    relaxed_pragma=choice.relaxed,
                    seconds=time.perf_counter() - t0,
                    runtime=runtime,
                )
            last_error = _short(
                str(doc.get("error") or "") or proc.stderr or proc.stdout or "slither failed"
            )
    return SlitherRun("error", error=last_error, source=text, seconds=time.perf_counter() - t0)


def _touches(detector: dict[str, Any], rel_target: str) -> bool:
    for el in detector.get("elements", []):
        fn = el.get("source_mapping", {}).get("filename_relative", "")
        if fn.replace("\\", "/").endswith(rel_target):
            return True
    return not detector.get("elements")


def _compiled(solc_out: Path, rel_target: str) -> tuple[dict[str, Any] | None, list[RuntimeUnit]]:
    """The target's compact AST and runtime bytecode from the compiler output the shim kept."""
    if not solc_out.is_file():
        return None, []
    try:
        doc = json.loads(solc_out.read_text())
    except json.JSONDecodeError:
        return None, []
    runtime = runtime_units(doc, rel_target)
    for name, unit in doc.get("sources", {}).items():
        if str(name).replace("\\", "/").endswith(rel_target):
            ast = unit.get("ast") or unit.get("legacyAST")
            return (ast if isinstance(ast, dict) else None), runtime
    return None, runtime
