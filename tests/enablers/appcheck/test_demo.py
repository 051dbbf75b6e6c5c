"""appcheck's demo seed: ent2's member submits two corpus APKs, the operator's reviewer signs one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mingyue.enablers.appcheck import demo, service


def test_seed_scans_as_the_member_and_signs_as_the_reviewer(
    settings: Any,
    make_org: Any,
    make_user: Any,
    uow_as: Any,
    actor_of: Any,
    apk_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not all((apk_dir / f).is_file() for f in demo.DEMO_FILES):
        pytest.skip("demo APKs not in the corpus")
    monkeypatch.setenv("MINGYUE_APPCHECK_DEMO_APKS", str(apk_dir))
    op, ent2 = make_org(kind="operator"), make_org()
    make_user(op, roles=("member", "reviewer"), username="op_member")
    member = make_user(ent2, roles=("member",), username="ent2_member")
    demo.seed(settings, {"op": op.id, "ent2": ent2.id})
    with uow_as(actor_of(member)) as uow:
        scans = sorted(service.list_scans(uow=uow, actor=uow.actor), key=lambda s: s.id)
    assert [s.status for s in scans] == ["done", "done"]
    assert [s.review for s in scans] == ["accepted", ""] and scans[0].credential_id
    assert {s.organization_id for s in scans} == {ent2.id}
