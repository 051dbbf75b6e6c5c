"""Every installed enabler (and core app) honours the contract of CONVENTIONS rules 1, 2, 6, 10."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mingyue.core.plugins import Enabler, registry
from mingyue.devcheck import check_enabler

ENABLERS = registry().ordered()


def test_every_entry_point_loads() -> None:
    assert registry().errors == {}


@pytest.mark.parametrize("enabler", ENABLERS, ids=[e.key for e in ENABLERS])
def test_contract(enabler: Enabler) -> None:
    assert check_enabler(enabler) == []


def test_registries_reject_duplicates() -> None:
    from mingyue.core import jobs, metering
    from mingyue.core.ledger import audit
    from mingyue.core.tenancy import access

    with pytest.raises(ValueError):
        access.register_permission("core.case.read", ["member"])
    with pytest.raises(ValueError):
        audit.register_event("core.case.opened", "again")
    with pytest.raises(ValueError):
        jobs.register_kind("core.selftest", "x:y")
    with pytest.raises(ValueError):
        metering.register_meter("core.api_calls", "call")


def test_dev_check_command(cli: Callable[..., Any]) -> None:
    r = cli("dev", "check", "--json")
    assert r.json()["problems"] == [] and r.exit_code == 0
