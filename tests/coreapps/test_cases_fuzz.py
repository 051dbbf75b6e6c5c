"""Property-based fuzzing of the /api/cases operations: no input yields a 5xx, for both sides."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

pytestmark = pytest.mark.slow


def test_cases_api_never_answers_5xx(app: Any, client: Any, tenants: Any) -> None:
    # A few real cases so that generated ids sometimes hit one.
    for i in range(3):
        client.post("/api/cases", json={"title": f"fuzz {i}"}, headers=tenants.a.headers())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    count = 0
    for token in (tenants.a.member_token, tenants.regulator.admin_token):
        current = {"Authorization": f"Bearer {token}"}
        for result in schema.get_all_operations():
            op = result.ok()
            if not op.path.startswith("/api/cases"):
                continue
            count += 1

            @given(case=op.as_strategy())
            @hsettings(
                max_examples=25,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                response = case.call(headers=current)  # noqa: B023 (run() is called at once)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> "
                        f"{response.status_code}: {response.text[:200]}"
                    )

            run()
    assert count >= 2 * 12
    assert not failures, "\n".join(sorted(set(failures))[:20])
