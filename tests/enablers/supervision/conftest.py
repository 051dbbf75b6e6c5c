"""Fixtures for supervision tests: findings raised through the sdk, a verifier the test drives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from mingyue.core import plugins, registries
from mingyue.core.config import Settings
from mingyue.sdk import (
    SYSTEM,
    EvidenceRef,
    FindingOut,
    FindingRule,
    UnitOfWork,
    observe_subject,
    raise_finding,
    unit_of_work,
)

LISTED = "appcheck.over_collection"  # an item of the shipped exemption lists
UNLISTED = "suptest.leak"  # a rule of no list, registered for the tests


@dataclass
class Verifier:
    """Stands in for the raising enabler's re-check: records calls; the test says the result."""

    settings: Settings
    calls: list[tuple[int, list[str]]] = field(default_factory=list)

    def __call__(
        self, *, uow: UnitOfWork, finding: FindingOut, evidence: list[EvidenceRef]
    ) -> None:
        self.calls.append((finding.id, [e.kind for e in evidence]))

    def report(self, finding: FindingOut, *, fixed: bool) -> None:
        """Finish the re-check of the finding's subject: fixed, or still present."""
        with unit_of_work(SYSTEM, self.settings) as uow:
            observe_subject(
                uow=uow,
                organization_id=finding.organization_id,
                enabler=finding.enabler,
                subject=finding.subject,
                present_rules=[] if fixed else [finding.rule],
                evidence=[EvidenceRef(kind=f"{finding.enabler}.report", ref="99", label="re-scan")],
            )


@pytest.fixture
def verifier(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Verifier:
    """Replace the verifiers of appcheck and of the test rule's enabler with one the test drives."""
    plugins.registry()
    v = Verifier(settings)
    monkeypatch.setitem(registries._finding_verifiers, "appcheck", v)
    monkeypatch.setitem(registries._finding_verifiers, "suptest", v)
    monkeypatch.setitem(
        registries._finding_rules,
        UNLISTED,
        (
            "suptest",
            FindingRule(
                title={"zh": "测试规则", "en": "Test rule"},
                citation={"zh": "测试条款 第一条", "en": "Test Art. 1"},
                severity="low",
                rectify_working_days=5,
            ),
        ),
    )
    return v


@pytest.fixture
def raise_(settings: Settings) -> Callable[..., FindingOut]:
    """Return ``raise_(org_id, rule=..., subject=...)``: raise a finding as the platform does."""

    def _raise(
        org_id: int, rule: str = LISTED, subject: str = "app:com.example.shop"
    ) -> FindingOut:
        with unit_of_work(SYSTEM, settings) as uow:
            return raise_finding(
                uow=uow,
                organization_id=org_id,
                rule=rule,
                subject=subject,
                evidence=[EvidenceRef(kind="appcheck.report", ref="1", label="scan")],
            )

    return _raise
