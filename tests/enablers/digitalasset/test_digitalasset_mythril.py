"""Mythril on bytecode: program counters placed on source lines through solc's source map, SWC
ids mapped onto DASP categories; Mythril missing or failing is an analysis error, never clean."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mingyue.enablers.digitalasset.engine.audit import audit_file
from mingyue.enablers.digitalasset.engine.audit.mythril import (
    RuntimeUnit,
    instruction_index,
    line_of,
    map_issues,
    source_entries,
)
from mingyue.enablers.digitalasset.service.audit import toolchain
from mingyue.sdk import get_settings

TOOLS = toolchain(get_settings())
# PUSH1 0x80, PUSH1 0x40, MSTORE, CALLVALUE: instructions at byte offsets 0, 2, 4, 5
CODE = "6080604052" + "34"
SOURCE = "a\nbb\nccc\n"
UNIT = RuntimeUnit("C", "0x" + CODE, "0:1:0;;5:3;:2:1", source_id=0)
BANK = """pragma solidity ^0.4.24;
contract Bank {
    mapping(address => uint256) public balances;
    function deposit() public payable { balances[msg.sender] += msg.value; }
    function withdraw(uint256 amount) public {
        require(balances[msg.sender] >= amount);
        require(msg.sender.call.value(amount)());
        balances[msg.sender] -= amount;
    }
}
"""


def test_program_counter_to_line() -> None:
    code = bytes.fromhex(CODE)
    assert [instruction_index(code, pc) for pc in (0, 2, 4, 5)] == [0, 1, 2, 3]
    assert instruction_index(code, 1) == -1  # inside PUSH1's operand
    assert source_entries(UNIT.source_map) == [(0, 1, 0), (0, 1, 0), (5, 3, 0), (5, 2, 1)]
    assert line_of(UNIT, 4, SOURCE) == 3  # byte 5 starts the third line
    assert line_of(UNIT, 0, SOURCE) == 1
    assert line_of(UNIT, 5, SOURCE) == 0  # another file's code
    assert line_of(UNIT, 99, SOURCE) == 0


def test_swc_ids_map_to_dasp() -> None:
    doc = {
        "issues": [
            {"swc-id": "107", "address": 4, "title": "External Call To User-Supplied Address"},
            {"swc-id": "101", "address": 0, "title": "Integer Arithmetic Bugs"},
            {"swc-id": "999", "address": 2, "title": "Something new"},
            {"swc-id": "104", "address": 5, "title": "Unchecked return value"},  # other file
        ]
    }
    got = [(i.category, i.swc, i.line, i.severity) for i in map_issues(doc, UNIT, SOURCE)]
    assert got == [
        ("reentrancy", "SWC-107", 3, "high"),
        ("arithmetic", "SWC-101", 1, "high"),
        ("other", "SWC-999", 1, "low"),
    ]


needs_slither = pytest.mark.skipif(bool(TOOLS.missing), reason="; ".join(TOOLS.missing))


@needs_slither
def test_mythril_missing_is_an_error_never_clean(tmp_path: Path) -> None:
    f = tmp_path / "Bank.sol"
    f.write_text(BANK)
    res = audit_file(f, tmp_path, dataclasses.replace(TOOLS, myth=None), mythril_timeout_s=60)
    assert res.status == "error" and res.error and "mythril not found" in res.error
    assert res.without_mythril  # Slither and our rules still report what they found


@pytest.mark.slow
@needs_slither
@pytest.mark.skipif(TOOLS.myth is None, reason="mythril not installed (DA_MYTHRIL=1 setup)")
def test_mythril_finds_the_reentrancy_on_its_line(tmp_path: Path) -> None:
    f = tmp_path / "Bank.sol"
    f.write_text(BANK)
    res = audit_file(f, tmp_path, TOOLS, mythril_timeout_s=240)
    assert res.status == "ok", res.error
    assert any(x.category == "reentrancy" and x.line == 7 for x in res.findings)
