"""One audit: Slither's findings mapped and filtered, plus our rules; results per file; SARIF 2.1.0."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mingyue.enablers.digitalasset.engine.audit.mapping import classify, classify_raw, rank_key
from mingyue.enablers.digitalasset.engine.audit.mythril import run_mythril
from mingyue.enablers.digitalasset.engine.audit.pragma import parse_version
from mingyue.enablers.digitalasset.engine.audit.rules import Analysis
from mingyue.enablers.digitalasset.engine.audit.slither import SlitherRun, run_slither
from mingyue.enablers.digitalasset.engine.audit.toolchain import Toolchain

MAX_FILES = 2000


@dataclass(frozen=True, slots=True)
class Finding:
    """One ranked finding: DASP category, SWC id, line, severity, and which check said so."""

    category: str
    swc: str
    line: int
    severity: str
    detector: str
    message: str = ""
    confidence: str = "Medium"

    def to_public(self) -> dict[str, Any]:
        """The CLI shape: category, swc, line, severity, detector."""
        return {
            "category": self.category,
            "swc": self.swc,
            "line": self.line,
            "severity": self.severity,
            "detector": self.detector,
        }


@dataclass(slots=True)
class FileResult:
    """Outcome for one file: ``ok`` (findings may be empty) or ``error`` (with the reason)."""

    file: str
    status: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    compiler: str | None = None
    relaxed_pragma: bool = False
    raw_findings: int = 0
    seconds: float = 0.0
    slither_alone: list[Finding] = field(default_factory=list)
    without_mythril: list[Finding] = field(default_factory=list)  # the same run, Mythril left out

    def to_public(self) -> dict[str, Any]:
        """The CLI shape: file, status, findings (and ``error`` when status is error)."""
        out: dict[str, Any] = {
            "file": self.file,
            "status": self.status,
            "findings": [f.to_public() for f in self.findings],
        }
        if self.error:
            out["error"] = self.error
        return out


def _primary_line(detector: dict[str, Any]) -> int:
    elements = detector.get("elements") or []
    for kind in ("node", "variable", "function", "contract"):
        for el in elements:
            if el.get("type") == kind:
                lines = el.get("source_mapping", {}).get("lines") or []
                if lines:
                    return int(lines[0])
    return 0


_LENGTH_WRITE = re.compile(
    r"\.length\s*(=[^=]|-=|\+=|--|\+\+)|(--|\+\+)\s*\w+(\[[^\]]*\])?\.length"
)


def _confirmed(check: str, line_text: str) -> bool:
    """Checks whose hit we confirm on the source line before ranking it."""
    if check == "controlled-array-length":
        # SWC-124 needs a length set or shrunk by the caller; Slither 0.11 also reports push()
        # on pre-0.6 code, which grows an array by one and writes nothing arbitrary.
        return bool(_LENGTH_WRITE.search(line_text))
    return True


def slither_findings(run: SlitherRun, *, filtered: bool) -> list[Finding]:
    """Map Slither's raw results; ``filtered`` drops noise (raw mode keeps every check as 'other')."""
    lines = run.source.splitlines()
    out = []
    for d in run.detectors:
        check, impact = str(d.get("check", "")), str(d.get("impact", ""))
        mapped = classify(check, impact) if filtered else classify_raw(check, impact)
        if mapped is None:
            continue
        category, swc, severity = mapped
        line = _primary_line(d)
        if filtered and not _confirmed(check, lines[line - 1] if 0 < line <= len(lines) else ""):
            continue
        desc = str(d.get("description", "")).strip().splitlines()
        out.append(
            Finding(
                category,
                swc,
                line,
                severity,
                f"slither:{check}",
                desc[0][:300] if desc else check,
                str(d.get("confidence", "Medium")),
            )
        )
    return out


def _dedupe_rank(findings: Iterable[Finding]) -> list[Finding]:
    best: dict[tuple[str, int], Finding] = {}
    for f in findings:
        key = (f.category, f.line)
        cur = best.get(key)
        if cur is None or rank_key(f.severity, f.confidence, f.line) < rank_key(
            cur.severity, cur.confidence, cur.line
        ):
            best[key] = f
    return sorted(best.values(), key=lambda f: rank_key(f.severity, f.confidence, f.line))


def audit_file(
    path: Path,
    root: Path,
    tools: Toolchain,
    *,
    timeout_s: float = 180.0,
    display: str | None = None,
    mythril_timeout_s: float = 0.0,
) -> FileResult:
    """Audit one Solidity file: Slither (mapped, filtered), our AST rules, optionally Mythril.

    With ``mythril_timeout_s`` > 0 Mythril analyses each contract's runtime bytecode (needs
    ``tools.myth``); its findings merge with the others by (category, line). Mythril missing or
    failing makes the file an error, never a clean result.
    """
    name = display or path.name
    run = run_slither(path, root, tools, timeout_s=timeout_s)
    if run.status != "ok":
        return FileResult(
            name, "error", error=run.error, seconds=run.seconds, compiler=run.compiler
        )
    if run.ast is None:
        return FileResult(name, "error", error="the compiler returned no AST", seconds=run.seconds)
    try:
        analysis = Analysis(run.ast, run.source, parse_version(run.compiler or "0.8.0"))
        hits = analysis.run()
        privileged = analysis.privileged_payment_lines()
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        return FileResult(
            name, "error", error=f"rule engine failed: {type(exc).__name__}: {exc}"[:300]
        )
    ours = [
        Finding(h.category, h.swc, h.line, h.severity, h.detector, h.message, "Medium")
        for h in hits
    ]
    # "Ether sent to an arbitrary user" is no finding when the recipient is the owner-like
    # variable the contract's own access checks compare with msg.sender
    theirs = [
        f
        for f in slither_findings(run, filtered=True)
        if not (f.detector == "slither:arbitrary-send-eth" and f.line in privileged)
    ]
    myth: list[Finding] = []
    myth_error = None
    if mythril_timeout_s > 0:
        myth, myth_error = _mythril(run, tools, mythril_timeout_s)
    return FileResult(
        name,
        "error" if myth_error else "ok",
        error=myth_error,
        findings=_dedupe_rank([*theirs, *ours, *myth]),
        compiler=run.compiler,
        relaxed_pragma=run.relaxed_pragma,
        raw_findings=len(run.detectors),
        seconds=run.seconds,
        slither_alone=slither_findings(run, filtered=False),
        without_mythril=_dedupe_rank([*theirs, *ours]),
    )


def _mythril(
    run: SlitherRun, tools: Toolchain, timeout_s: float
) -> tuple[list[Finding], str | None]:
    if tools.myth is None:
        return [], f"mythril not found under {tools.root}/mythril (DA_MYTHRIL=1 setup script)"
    out: list[Finding] = []
    for unit in run.runtime:
        issues, error = run_mythril(tools.myth, unit, run.source, timeout_s=timeout_s)
        if error:
            return out, error
        out.extend(
            Finding(i.category, i.swc, i.line, i.severity, f"mythril:{i.swc}", i.title, "Medium")
            for i in issues
        )
    return out, None


def solidity_files(target: Path) -> tuple[Path, list[Path]]:
    """Return (root, files) for a .sol file or a folder of them (sorted; links not followed)."""
    if target.is_file():
        if target.suffix != ".sol":
            raise ValueError(f"{target.name} is not a .sol file")
        return target.parent, [target]
    if not target.is_dir():
        raise ValueError(f"{target} does not exist")
    files = sorted(p for p in target.rglob("*.sol") if p.is_file() and not p.is_symlink())
    files = [p for p in files if "node_modules" not in p.parts]
    if len(files) > MAX_FILES:
        raise ValueError(f"more than {MAX_FILES} .sol files under {target}")
    return target, files


def audit_path(
    target: Path,
    tools: Toolchain,
    *,
    timeout_s: float = 180.0,
    progress: Callable[[int, int, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    mythril_timeout_s: float = 0.0,
) -> list[FileResult]:
    """Audit a file or every .sol file under a folder; one result per file, in path order."""
    root, files = solidity_files(target)
    out = []
    for i, f in enumerate(files):
        if cancelled is not None and cancelled():
            break
        rel = f.relative_to(root).as_posix() if target.is_dir() else f.name
        if progress is not None:
            progress(i, len(files), rel)
        out.append(
            audit_file(
                f,
                root,
                tools,
                timeout_s=timeout_s,
                display=rel,
                mythril_timeout_s=mythril_timeout_s,
            )
        )
    return out


_LEVEL = {"high": "error", "medium": "warning", "low": "note", "info": "note"}


def to_sarif(results: list[FileResult], *, tool_version: str = "0.1.0") -> dict[str, Any]:
    """SARIF 2.1.0 log: one run, our findings as results, analysis errors as notifications."""
    rules: dict[str, dict[str, Any]] = {}
    sarif_results = []
    for r in results:
        for f in r.findings:
            rules.setdefault(
                f.detector,
                {
                    "id": f.detector,
                    "shortDescription": {"text": f.message or f.detector},
                    "properties": {
                        "category": f.category,
                        "tags": [t for t in (f.category, f.swc) if t],
                    },
                },
            )
            sarif_results.append(
                {
                    "ruleId": f.detector,
                    "level": _LEVEL.get(f.severity, "warning"),
                    "message": {"text": f.message or f.detector},
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": r.file},
                                "region": {"startLine": max(1, f.line)},
                            }
                        }
                    ],
                    "properties": {"category": f.category, "swc": f.swc, "severity": f.severity},
                }
            )
    errors = [r for r in results if r.status != "ok"]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mingyue-digitalasset-audit",
                        "version": tool_version,
                        "rules": list(rules.values()),
                    }
                },
                "results": sarif_results,
                "invocations": [
                    {
                        "executionSuccessful": not errors,
                        "toolExecutionNotifications": [
                            {
                                "level": "error",
                                "message": {"text": f"{r.file}: {r.error}"},
                                "locations": [
                                    {"physicalLocation": {"artifactLocation": {"uri": r.file}}}
                                ],
                            }
                            for r in errors
                        ],
                    }
                ],
            }
        ],
    }
