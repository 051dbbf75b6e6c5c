"""Contract audit: pragma choice, our rules on real compiled contracts, errors never 'clean',
SARIF, the CLI and the background job through the API (with tenant isolation)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mingyue.enablers.digitalasset.engine.audit import audit_path, discover, to_sarif
from mingyue.enablers.digitalasset.engine.audit.pragma import admits, choose, find_pragma, relax
from mingyue.enablers.digitalasset.service.audit import toolchain
from mingyue.sdk import get_settings

TOOLS = toolchain(get_settings())
needs_tools = pytest.mark.skipif(
    bool(TOOLS.missing),
    reason="contract-audit tools missing (run scripts/digitalasset-audit-setup.sh): "
    + "; ".join(TOOLS.missing),
)

TOKEN = """pragma solidity ^0.4.24;
contract Token {
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    address public owner;
    uint256 public lastDraw;
    constructor() public { owner = msg.sender; }
    function transfer(address to, uint256 value) public {
        require(balanceOf[msg.sender] >= value);
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
    }
    function approve(address spender, uint256 value) public returns (bool) {
        allowance[msg.sender][spender] = value;
        return true;
    }
    function lucky() public view returns (uint256) {
        return uint256(keccak256(abi.encodePacked(blockhash(block.number - 1), now))) % 10;
    }
    function setOwner(address o) public { owner = o; }
    function kill() public { require(msg.sender == owner); selfdestruct(owner); }
}
"""
BROKEN = "pragma solidity ^0.4.24;\ncontract Broken { function f( public { } }\n"


def test_pragma_choice_and_relaxing() -> None:
    installed = [(0, 4, 24), (0, 4, 26), (0, 5, 17), (0, 8, 26)]
    assert admits("^0.4.24", (0, 4, 26)) and not admits("^0.4.24", (0, 5, 17))
    assert admits(">=0.4.22 <0.6.0", (0, 5, 17)) and not admits(">=0.4.22 <0.6.0", (0, 8, 26))
    assert admits("0.4.24", (0, 4, 24)) and not admits("0.4.24", (0, 4, 26))
    assert choose("pragma solidity ^0.4.24;", installed)[0].version == (0, 4, 26)
    pinned = choose("pragma solidity 0.4.23;", installed)[0]
    assert pinned.version == (0, 4, 26) and pinned.relaxed
    assert next(c.version for c in choose("contract A {}", installed)) == (0, 4, 26)
    assert find_pragma("// pragma solidity ^0.8.0;\npragma solidity ^0.5.0;") == "^0.5.0"
    src = "pragma solidity 0.4.23;\ncontract A {}\n"
    assert relax(src, (0, 4, 26)).count("\n") == src.count("\n")


def test_missing_tools_is_an_error_never_clean(tmp_path: Path) -> None:
    (tmp_path / "a.sol").write_text(TOKEN)
    [res] = audit_path(tmp_path / "a.sol", discover(tmp_path / "nowhere"))
    assert res.status == "error" and "slither not found" in (res.error or "")
    sarif = to_sarif([res])
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["invocations"][0]["executionSuccessful"] is False


@needs_tools
def test_rules_and_slither_on_a_real_contract(tmp_path: Path) -> None:
    (tmp_path / "token.sol").write_text(TOKEN)
    (tmp_path / "broken.sol").write_text(BROKEN)
    res = {r.file: r for r in audit_path(tmp_path, TOOLS, timeout_s=300)}
    assert res["broken.sol"].status == "error" and res["broken.sol"].error
    tok = res["token.sol"]
    assert tok.status == "ok", tok.error
    got = {(f.category, f.line) for f in tok.findings}
    assert ("arithmetic", 11) in got  # balanceOf[to] += value: no overflow check
    assert ("arithmetic", 10) not in got  # guarded by the require above it
    assert ("front_running", 13) in got  # approve race
    assert ("bad_randomness", 18) in got  # blockhash + now, hashed, modulo
    assert ("access_control", 20) in got  # anyone may set the owner
    assert ("short_addresses", 8) in got  # pre-0.5, address then amount, no payload check
    assert not any(
        f.detector in ("slither:naming-convention", "slither:solc-version") for f in tok.findings
    )
    assert tok.raw_findings >= len([f for f in tok.findings if f.detector.startswith("slither:")])
    sarif = to_sarif(list(res.values()))
    run = sarif["runs"][0]
    assert {r["ruleId"] for r in run["results"]} >= {"mingyue-unchecked-arithmetic"}
    assert run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"].startswith(
        "broken.sol"
    )


@needs_tools
def test_cli_audit_json(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "t.sol").write_text(TOKEN)
    res = cli(
        "digitalasset",
        "audit",
        str(tmp_path / "t.sol"),
        "--json",
        "--sarif",
        str(tmp_path / "o.sarif"),
    )
    assert res.exit_code == 0, res.stderr
    [doc] = res.json()
    assert doc["file"] == "t.sol" and doc["status"] == "ok"
    for f in doc["findings"]:
        assert set(f) == {"category", "swc", "line", "severity", "detector"}
    assert (tmp_path / "o.sarif").read_text().startswith("{")


def test_cli_audit_bad_path(cli: Any, tmp_path: Path) -> None:
    res = cli("digitalasset", "audit", str(tmp_path / "nope.sol"), "--json")
    assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1
    (tmp_path / "x.txt").write_text("hi")
    res = cli("digitalasset", "audit", str(tmp_path / "x.txt"))
    assert res.exit_code == 2 and "Traceback" not in res.stderr


@needs_tools
def test_audit_job_through_the_api(client: Any, tenants: Any, run_jobs: Any) -> None:
    h = tenants.a.headers()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("contracts/Token.sol", TOKEN)
        zf.writestr("README.md", "not a contract")
    r = client.post(
        "/api/digitalasset/audit/runs",
        files={"file": ("src.zip", buf.getvalue(), "application/zip")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    audit = r.json()
    assert audit["status"] == "queued" and audit["job_id"]
    hb = tenants.b.headers(admin=True)
    assert client.get(f"/api/digitalasset/audit/runs/{audit['id']}", headers=hb).status_code == 404
    assert (
        client.get(f"/api/digitalasset/audit/runs/{audit['id']}/sarif", headers=h).status_code
        == 404
    )
    run_jobs()
    done = client.get(f"/api/digitalasset/audit/runs/{audit['id']}", headers=h).json()
    assert done["status"] == "done" and done["files_total"] == 1, done
    assert done["files_error"] == 0, done["results"]
    assert done["results"][0]["file"] == "contracts/Token.sol"
    assert done["by_category"].get("arithmetic", 0) >= 1
    sarif = client.get(f"/api/digitalasset/audit/runs/{audit['id']}/sarif", headers=h).json()
    assert sarif["version"] == "2.1.0"
    assert (
        client.get(f"/api/digitalasset/audit/runs/{audit['id']}/sarif", headers=hb).status_code
        == 404
    )


def test_audit_upload_refused(client: Any, tenants: Any) -> None:
    h = tenants.a.headers()
    r = client.post(
        "/api/digitalasset/audit/runs",
        files={"file": ("a.exe", b"MZ", "application/octet-stream")},
        headers=h,
    )
    assert r.status_code == 422
    r = client.post(
        "/api/digitalasset/audit/runs", files={"file": ("a.sol", b"", "text/plain")}, headers=h
    )
    assert r.status_code == 422
    auditor = tenants.regulator.headers()
    assert client.get("/api/digitalasset/audit/runs", headers=auditor).status_code == 200
