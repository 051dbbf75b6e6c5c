"""`mingyue demo` run again keeps the demo users' passwords, kept owner-only in the data dir."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mingyue.core.config import Settings
from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.uow import unit_of_work
from mingyue.demo import CHANGED_BY_USER, PASSWORDS_FILE
from mingyue.testing import CliResult


def test_rerun_keeps_passwords_in_an_owner_only_file(
    cli: Callable[..., CliResult], client: Any, settings: Settings, monkeypatch: Any
) -> None:
    monkeypatch.delenv("MINGYUE_DEMO_PASSWORD", raising=False)
    first = cli("demo", "--json")
    assert first.exit_code == 0, first.stderr
    logins = {u["username"]: u["password"] for u in first.json()["users"]}
    path = Path(first.json()["passwords_file"])
    assert path == (settings.data_dir / PASSWORDS_FILE).resolve()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert json.loads(path.read_text(encoding="utf-8")) == logins
    # A person changes one password; the next run keeps it and every other login as it was.
    changed = next(iter(logins))
    with unit_of_work(SYSTEM, settings) as uow:
        uid = next(
            u.id for u in accounts.list_users(uow=uow, actor=SYSTEM) if u.username == changed
        )
        accounts.set_password(uow=uow, actor=SYSTEM, user_id=uid, password="chosen-by-me-1")
    again = cli("demo", "--json")
    assert again.exit_code == 0, again.stderr
    second = {u["username"]: u["password"] for u in again.json()["users"]}
    assert second[changed] == CHANGED_BY_USER
    assert {k: v for k, v in second.items() if k != changed} == {
        k: v for k, v in logins.items() if k != changed
    }
    for username, password in ((changed, "chosen-by-me-1"), *list(second.items())[1:3]):
        r = client.post(
            "/login", data={"username": username, "password": password}, follow_redirects=False
        )
        assert r.status_code == 303, username
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
