"""Mythril on a contract's runtime bytecode (optional): SWC issues mapped onto DASP categories and
onto source lines through the compiler's source map.

Mythril runs from its own venv (``<tools>/mythril/bin/myth``, see
``scripts/digitalasset-audit-setup.sh``) as a subprocess on the deployed bytecode the solc-js shim
produced for Slither, so both read the same compilation. ``--execution-timeout`` bounds its
symbolic execution; the process itself gets a hard timeout. A crash, a hard timeout or output
that is not Mythril's JSON is an analysis error, never "clean".
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

# SWC id (as Mythril prints it, digits only) -> (DASP category, severity). Mythril's modules and
# their SWC ids: https://github.com/ConsenSys/mythril/tree/v0.24.8/mythril/analysis/module/modules
SWC_DASP: Final[dict[str, tuple[str, str]]] = {
    "107": ("reentrancy", "high"),  # state change after call / call to user-supplied address
    "104": ("unchecked_low_level_calls", "medium"),  # unchecked return value
    "101": ("arithmetic", "high"),  # integer overflow and underflow
    "105": ("access_control", "high"),  # unprotected ether withdrawal
    "106": ("access_control", "high"),  # unprotected selfdestruct
    "112": ("access_control", "high"),  # delegatecall to a user-supplied address
    "115": ("access_control", "medium"),  # tx.origin
    "124": ("access_control", "high"),  # write to an arbitrary storage location
    "127": ("access_control", "high"),  # arbitrary jump
    "113": ("denial_of_service", "medium"),  # multiple calls in one transaction
    "128": ("denial_of_service", "low"),  # gas-dependent loop
    "120": ("bad_randomness", "medium"),  # predictable block values as randomness
    "116": ("time_manipulation", "low"),  # block.timestamp in a condition
    "114": ("front_running", "medium"),  # transaction order dependence
}
_PUSH1, _PUSH32 = 0x60, 0x7F


@dataclass(frozen=True, slots=True)
class RuntimeUnit:
    """One deployed contract of the target file: its runtime bytecode and source map."""

    contract: str
    code_hex: str
    source_map: str
    source_id: int


@dataclass(frozen=True, slots=True)
class MythIssue:
    """A Mythril issue placed on a line: category, SWC id, line, severity, title."""

    category: str
    swc: str
    line: int
    severity: str
    title: str


def runtime_units(solc_out: dict[str, Any], rel_target: str) -> list[RuntimeUnit]:
    """The deployed bytecode of each contract defined in the target (from the standard JSON)."""
    ids = {
        str(name).replace("\\", "/"): int(unit.get("id", -1))
        for name, unit in solc_out.get("sources", {}).items()
        if isinstance(unit, dict)
    }
    out = []
    for name, contracts in solc_out.get("contracts", {}).items():
        path = str(name).replace("\\", "/")
        if not path.endswith(rel_target) or not isinstance(contracts, dict):
            continue
        for cname, c in sorted(contracts.items()):
            deployed = (c.get("evm") or {}).get("deployedBytecode") or {}
            code = str(deployed.get("object") or "")
            if len(code) > 2:
                out.append(
                    RuntimeUnit(
                        cname, code, str(deployed.get("sourceMap") or ""), ids.get(path, -1)
                    )
                )
    return out


def instruction_index(code: bytes, pc: int) -> int:
    """Index of the instruction at byte offset ``pc`` (PUSHn carry n operand bytes); -1 if none."""
    i = n = 0
    while i < len(code):
        if i == pc:
            return n
        op = code[i]
        i += 1 + (op - _PUSH1 + 1 if _PUSH1 <= op <= _PUSH32 else 0)
        n += 1
    return -1


def source_entries(source_map: str) -> list[tuple[int, int, int]]:
    """Decompress a solc source map into (start, length, file index) per instruction."""
    out: list[tuple[int, int, int]] = []
    s, ln, f = -1, -1, -1
    for item in source_map.split(";"):
        parts = item.split(":")
        if len(parts) > 0 and parts[0]:
            s = int(parts[0])
        if len(parts) > 1 and parts[1]:
            ln = int(parts[1])
        if len(parts) > 2 and parts[2]:
            f = int(parts[2])
        out.append((s, ln, f))
    return out


def line_of(unit: RuntimeUnit, pc: int, source: str) -> int:
    """The 1-based source line of the instruction at ``pc``; 0 when it maps to no line of ours."""
    try:
        code = bytes.fromhex(unit.code_hex.removeprefix("0x"))
    except ValueError:
        return 0
    idx = instruction_index(code, pc)
    entries = source_entries(unit.source_map)
    if not 0 <= idx < len(entries):
        return 0
    start, _, f = entries[idx]
    if start < 0 or f != unit.source_id:
        return 0
    data = source.encode()  # solc's offsets count bytes
    return data[:start].count(b"\n") + 1


def map_issues(doc: dict[str, Any], unit: RuntimeUnit, source: str) -> list[MythIssue]:
    """Mythril's JSON issues as DASP findings on lines of the source (unknown SWC ids: other)."""
    out = []
    for issue in doc.get("issues", []):
        swc = str(issue.get("swc-id", "")).strip()
        category, severity = SWC_DASP.get(swc, ("other", "low"))
        try:
            pc = int(issue.get("address", -1))
        except (TypeError, ValueError):
            pc = -1
        line = line_of(unit, pc, source) if pc >= 0 else 0
        if line == 0:
            continue  # code the compiler generated, or another file's
        out.append(
            MythIssue(
                category, f"SWC-{swc}" if swc else "", line, severity, str(issue.get("title"))
            )
        )
    return out


def run_mythril(
    myth: Path, unit: RuntimeUnit, source: str, *, timeout_s: float
) -> tuple[list[MythIssue], str | None]:
    """Analyse one runtime bytecode; (issues, None) or ([], the reason it failed)."""
    # Mythril starts slowly (z3, its module loader): half the budget goes to symbolic execution
    exec_s = max(5, int(timeout_s * 0.5))
    with tempfile.TemporaryDirectory(prefix="da-myth-") as tmp:
        code = Path(tmp) / "runtime.hex"
        code.write_text(unit.code_hex.removeprefix("0x"))
        cmd = [
            str(myth),
            "analyze",
            "--bin-runtime",
            "-f",
            str(code),
            "-o",
            "json",
            "--execution-timeout",
            str(exec_s),
            "-t",
            "2",
        ]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "LANG": "C.UTF-8"}
        try:
            # Mythril exits 1 when it found issues: the JSON, not the code, says how it went.
            proc = subprocess.run(
                cmd,
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [], f"mythril timed out after {timeout_s:.0f} s on {unit.contract}"
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return [], f"mythril failed on {unit.contract}: {tail[0][:200]}"
    if not isinstance(doc, dict) or doc.get("error") or doc.get("success") is False:
        err = str(doc.get("error") if isinstance(doc, dict) else doc)[:200]
        return [], f"mythril failed on {unit.contract}: {err}"
    return map_issues(doc, unit, source), None
