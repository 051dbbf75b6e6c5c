"""Property-based API fuzzing against /openapi.json: no input produces a 5xx.

schemathesis' own pytest plugin does not run under pytest 9 yet, so the operations are walked here
and each one's hypothesis strategy is drawn from directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

pytestmark = pytest.mark.slow


def test_no_server_errors(app, tenants) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {tenants.a.admin_token}"}
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        op = result.ok()
        count += 1

        @given(case=op.as_strategy())
        @hsettings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> "
                    f"{response.status_code}: {response.text[:200]}"
                )

        run()
    assert count > 20
    assert not failures, "\n".join(sorted(set(failures))[:20])
