"""Fuzz the credentials and files operations from /openapi.json: no input produces a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

pytestmark = pytest.mark.slow


def _fuzz(op: Any, headers: dict[str, str], failures: list[str]) -> None:
    @given(case=op.as_strategy())
    @hsettings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} -> "
                f"{response.status_code}: {response.text[:200]}"
            )

    run()


def test_credentials_operations_never_answer_5xx(app: Any, tenants: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    ops = [r.ok() for r in schema.get_all_operations()]
    ours = [
        op for op in ops if (op.definition.raw.get("operationId") or "").startswith("credentials-")
    ]
    assert len(ours) == 9
    for op in ours:
        for headers in (tenants.a.headers(), tenants.operator.headers()):
            _fuzz(op, headers, failures)
    assert not failures, "\n".join(sorted(set(failures))[:20])
