"""Fuzz the billing API as a platform administrator (who reaches every write): never a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

pytestmark = pytest.mark.slow

PATHS = ("/api/usage", "/api/statements", "/api/tariffs", "/api/free-pools")


def test_billing_api_never_answers_5xx(app: Any, tenants: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {tenants.operator.admin_token}"}
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if not op.path.startswith(PATHS):
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
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} {case.body!r} -> "
                    f"{response.status_code}: {response.text[:300]}"
                )

        run()
    assert count >= 12
    assert not failures, "\n".join(sorted(set(failures))[:20])
