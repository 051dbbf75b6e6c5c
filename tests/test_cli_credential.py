"""`mingyue credential verify`: the verdict on stdout, the API's wrapper accepted, exit codes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mingyue.core.config import Settings
from mingyue.core.ledger import credentials
from mingyue.core.tenancy.access import Actor
from mingyue.core.uow import unit_of_work
from mingyue.testing import CliResult, Tenants

Cli = Callable[..., CliResult]
REVIEWER = Actor(
    user_id=None,
    username="reviewer-job",
    organization_id=None,
    org_kind="operator",
    roles=frozenset({"reviewer"}),
)


def _issue(settings: Settings, org_id: int) -> dict[str, Any]:
    with unit_of_work(REVIEWER, settings) as uow:
        return credentials.issue(
            uow=uow,
            type="TerminalCertificate",
            subject={"model": "MY-03", "result": "pass"},
            organization_id=org_id,
        )


def test_valid_verdict_is_printed_on_stdout(
    settings: Settings, tenants: Tenants, cli: Cli, tmp_path: Path
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    path = tmp_path / "vc.json"
    path.write_text(json.dumps(vc, ensure_ascii=False), encoding="utf-8")
    r = cli("credential", "verify", str(path))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("VALID: ") and vc["id"] in r.stdout
    assert r.stderr == ""
    r = cli("credential", "verify", str(path), "--json")
    assert r.exit_code == 0
    out = r.json()
    assert out["valid"] is True and out["reason"] == "core.credential.valid"
    assert out["id"] == vc["id"]
    assert out["ok"] is True  # the keys it had before stay


def test_invalid_verdict_exits_1_with_stdout(
    settings: Settings, tenants: Tenants, cli: Cli, tmp_path: Path
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    vc["credentialSubject"]["result"] = "fail"
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(vc), encoding="utf-8")
    r = cli("credential", "verify", str(path))
    assert r.exit_code == 1
    assert r.stdout.startswith("INVALID: ") and "core.credential.tampered" in r.stdout
    r = cli("credential", "verify", str(path), "--json")
    assert r.exit_code == 1
    assert r.json()["valid"] is False and r.json()["reason"] == "core.credential.tampered"
    assert r.json()["id"] == vc["id"]
    not_a_vc = tmp_path / "not-a-vc.json"
    not_a_vc.write_text('{"hello": "world"}', encoding="utf-8")
    r = cli("credential", "verify", str(not_a_vc), "--json")
    assert r.exit_code == 1 and r.json() == {**r.json(), "valid": False, "id": None}
    assert r.json()["reason"] == "core.credential.malformed"


def test_unreadable_files_exit_2(cli: Cli, tmp_path: Path, settings: Settings) -> None:
    _ = settings  # a data dir with a platform key exists
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\x00\x01\x02")
    for path in (garbage, binary, tmp_path / "missing.json", tmp_path):
        r = cli("credential", "verify", str(path))
        assert r.exit_code == 2, (path, r.stdout, r.stderr)
        assert r.stdout == "" and r.stderr.startswith("error: ")
        assert len(r.stderr.strip().splitlines()) == 1


def test_the_api_answer_verifies_too(
    settings: Settings, tenants: Tenants, cli: Cli, client: Any, tmp_path: Path
) -> None:
    vc = _issue(settings, tenants.a.org.id)
    uid = vc["id"].removeprefix("urn:uuid:")
    r = client.get(f"/api/credentials/{uid}", headers=tenants.a.headers())
    assert r.status_code == 200 and r.json()["credential"] == vc
    saved = tmp_path / "from-api.json"
    saved.write_bytes(r.content)
    r = cli("credential", "verify", str(saved), "--json")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert r.json()["valid"] is True and r.json()["id"] == vc["id"]
    # The wrapper does not launder a tampered credential inside it.
    wrapped = json.loads(saved.read_text(encoding="utf-8"))
    wrapped["credential"]["credentialSubject"]["model"] = "MY-99"
    saved.write_text(json.dumps(wrapped), encoding="utf-8")
    r = cli("credential", "verify", str(saved))
    assert r.exit_code == 1 and "core.credential.tampered" in r.stdout
    # `credential show --json` writes the same wrapper: it verifies as well.
    shown = tmp_path / "shown.json"
    r = cli("credential", "show", vc["id"], "--as", tenants.a.member.username, "--json")
    shown.write_text(r.stdout, encoding="utf-8")
    assert cli("credential", "verify", str(shown)).exit_code == 0
