"""The registry from the command line: register a file as a user, list it, re-verify it (one
changed byte fails, exit 1), the rule pack; bad input is one line on stderr, exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_cli_register_verify_rules(cli: Any, tenants: Any, tmp_path: Path) -> None:
    art = tmp_path / "art.png"
    art.write_bytes(b"\x89PNG" + bytes(range(256)) * 10)
    user = tenants.a.member.username
    out = cli(
        "digitalasset",
        "register",
        str(art),
        "--title",
        "明月图",
        "--creator",
        "李白",
        "--rights",
        "著作权归作者所有，授权平台发行。",
        "--as",
        user,
        "--json",
    )
    assert out.exit_code == 0, out.stderr
    work = out.json()
    assert work["review_status"] == "submitted" and len(work["sm3"]) == 64
    listed = cli("digitalasset", "works", "--as", user, "--json")
    assert [w["id"] for w in listed.json()] == [work["id"]]
    # Another enterprise does not see it.
    other = cli("digitalasset", "works", "--as", tenants.b.member.username, "--json")
    assert other.json() == []
    ok = cli("digitalasset", "verify-work", str(work["id"]), str(art), "--as", user, "--json")
    assert ok.exit_code == 0 and ok.json()["ok"] is True
    changed = tmp_path / "changed.png"
    data = bytearray(art.read_bytes())
    data[-1] ^= 0xFF
    changed.write_bytes(bytes(data))
    bad = cli("digitalasset", "verify-work", str(work["id"]), str(changed), "--as", user, "--json")
    assert bad.exit_code == 1 and bad.json()["ok"] is False
    rules = cli("digitalasset", "rules", "--json").json()
    assert [r["id"] for r in rules][-1] == "SANDBOX-HOLD"


def test_cli_bad_input(cli: Any, tenants: Any, tmp_path: Path) -> None:
    user = tenants.a.member.username
    missing = cli(
        "digitalasset",
        "register",
        str(tmp_path / "none.png"),
        "--title",
        "x",
        "--creator",
        "x",
        "--rights",
        "0123456789",
        "--as",
        user,
    )
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    out = cli(
        "digitalasset",
        "register",
        str(empty),
        "--title",
        "x",
        "--creator",
        "x",
        "--rights",
        "0123456789",
        "--as",
        user,
    )
    assert out.exit_code == 2 and "Traceback" not in out.stderr
    out = cli(
        "digitalasset",
        "register",
        str(empty),
        "--title",
        "x",
        "--creator",
        "x",
        "--rights",
        "0123456789",
    )
    assert out.exit_code == 2 and "--as" in out.stderr
