"""The overview's charts read as words: job statuses, meters and case states through the
catalogue or their workflow's titles, never identifiers (issue 13 §4: the text test cannot see
inside the page's script, so this one reads the chart data itself)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from mingyue.core import clock, jobs
from mingyue.core.metering.service import record_usage
from mingyue.core.uow import unit_of_work


def _charts(html: str) -> dict[str, dict[str, float]]:
    found = re.search(r"const charts = (\{.*?\});\n", html)
    assert found, "the overview page carries its chart data"
    return json.loads(found.group(1))  # type: ignore[no-any-return]


def test_overview_chart_labels_are_words(
    client: Any, settings: Any, tenants: Any, actor_of: Any
) -> None:
    admin = actor_of(tenants.operator.admin)
    with unit_of_work(admin, settings) as uow:
        jobs.submit(uow=uow, actor=admin, kind="core.selftest", params={"seconds": 0})
        end = clock.now()
        record_usage(
            uow=uow,
            organization_id=tenants.operator.org.id,
            meter="core.api_calls",
            quantity=Decimal(3),
            unit="call",
            start=end - timedelta(seconds=1),
            end=end,
            source="test:overview",
        )
    r = client.post(
        "/login",
        data={"username": tenants.operator.admin.username, "password": "password123"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    charts = _charts(client.get("/", headers={"accept-language": "zh-CN"}).text)
    assert "API 调用" in charts["usage"] and "core.api_calls" not in charts["usage"]
    assert charts["jobs"] and all(re.search(r"[\u4e00-\u9fff]", k) for k in charts["jobs"])
    # the API keeps the identifiers for programs
    api = client.get("/api/overview").json()
    assert "core.api_calls" in api["usage_this_month"]


def test_overview_counts_only_what_the_actor_may_list(
    client: Any, settings: Any, tenants: Any, actor_of: Any, token_for: Any
) -> None:
    from sqlalchemy import func, select

    from mingyue.core.db import system_session
    from mingyue.core.tenancy.identity import Organization, User

    with system_session(settings, "test") as s:
        all_orgs = s.scalar(select(func.count()).select_from(Organization))
        all_users = s.scalar(select(func.count()).select_from(User))
        own_users = s.scalar(
            select(func.count()).select_from(User).where(User.organization_id == tenants.a.org.id)
        )
    assert all_orgs and all_orgs > 1 and all_users and own_users and own_users < all_users
    ent = client.get(
        "/api/overview", headers={"authorization": f"Bearer {token_for(tenants.a.admin)}"}
    ).json()
    assert (ent["organizations"], ent["users"]) == (1, own_users)
    op = client.get(
        "/api/overview",
        headers={"authorization": f"Bearer {token_for(tenants.operator.admin)}"},
    ).json()
    assert (op["organizations"], op["users"]) == (all_orgs, all_users)
