"""Pydantic in/out models of the supervision enabler: what the API, CLI and console exchange.

Out models carry everything a page shows (titles in zh and en, clocks, the actions open to the
reader), so a page never needs a second lookup.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from mingyue.sdk import FindingOut

Harm = Literal["none", "minor", "serious"]
Corrected = Literal["in_time", "late", "not_yet"]
Decision = Literal["penalty_procedure", "no_penalty", "discretionary", "rectification_ordered"]
Outcome = Literal["penalty_procedure", "no_penalty", "waived", "rectification_ordered"]
DocumentKind = Literal["exemption_list", "guideline"]
Text2 = dict[str, str]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- findings -----------------------------------------------------------------------------------


class RectificationBrief(BaseModel):
    """The rectification of a finding, as a register line shows it."""

    id: int
    status: str
    deadline: datetime
    overdue: bool


class FindingView(BaseModel):
    """A finding in the register: the core's finding plus its organization and rectification."""

    finding: FindingOut
    organization_name: str
    rectification: RectificationBrief | None
    decision: str | None  # the outcome of its decision, if decided


# --- rectification ------------------------------------------------------------------------------


class OrderIn(_In):
    """Order rectification of a finding; the time limit defaults to the rule's own."""

    finding_id: int = Field(ge=1, le=2**31 - 1)
    working_days: int | None = Field(default=None, ge=1, le=250)
    instructions: str | None = Field(default=None, max_length=2000)


class EvidenceFile(BaseModel):
    """One evidence file of a report, stored through the core's file checks."""

    id: int
    filename: str
    sha256: str
    size: int
    mime: str


class ReportOut(BaseModel):
    """An enterprise's rectification report."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    rectification_id: int
    text: str
    files: list[EvidenceFile]
    submitted_by: str
    submitted_at: datetime


class ReturnIn(_In):
    """Return a rectification for further correction, saying why."""

    comment: str = Field(min_length=1, max_length=2000)


class WithdrawIn(_In):
    """Dismiss the finding (not a breach) and withdraw its rectification, saying why."""

    reason: str = Field(min_length=1, max_length=2000)


class RectificationOut(BaseModel):
    """A rectification with its clock, reports, decision and the actions open to the reader."""

    id: int
    finding_id: int
    case_id: int
    organization_id: int
    organization_name: str
    enabler: str
    rule: str
    rule_title: Text2
    citation: Text2
    severity: str
    subject: str
    status: str
    status_title: Text2
    ordered_at: datetime
    ordered_by: str
    instructions: str | None
    rule_working_days: int
    working_days: int
    deadline: datetime
    working_days_left: int  # negative once past the deadline
    overdue: bool  # past the deadline with no accepted correction
    exemption_list_version: int | None
    reverify_requested_at: datetime | None
    verification_state: str | None  # pending | fixed | still_present
    verified_at: datetime | None
    closed_at: datetime | None
    reports: list[ReportOut]
    decision: DecisionOut | None
    actions: list[str]  # report | reverify | return | decide | withdraw, for this reader


# --- decision -----------------------------------------------------------------------------------


class DecisionIn(_In):
    """The facts only the regulator can state; the others come from the platform's records.

    ``discretion`` and ``reasons`` are required when the rules leave the penalty to a person
    (APL Art. 33(1) second sentence: first offence, minor harm, corrected in time).
    """

    prohibited: StrictBool
    harm: Harm
    no_fault_evidence: StrictBool
    discretion: Literal["waive", "penalise"] | None = None
    reasons: str | None = Field(default=None, max_length=4000)


class FactSource(BaseModel):
    """Where a fact came from: the platform's records or the regulator, and how."""

    source: Literal["platform", "regulator"]
    detail: Text2


class DecisionPreview(BaseModel):
    """What the rules decide on these facts, before anything is recorded."""

    facts: dict[str, Any]
    derivation: dict[str, FactSource]
    decision: Decision
    basis: list[str]
    reason: dict[str, Any]
    needs_discretion: bool
    exemption_list_version: int | None
    deadline: datetime | None


class DecisionOut(BaseModel):
    """A recorded decision and its signed credential."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    rectification_id: int | None
    finding_id: int
    organization_id: int
    rule: str
    facts: dict[str, Any]
    derivation: dict[str, Any]
    decision: str
    outcome: str
    basis: list[str]
    reason: dict[str, Any]
    reasons: str | None
    exemption_list_version: int | None
    credential_id: str | None
    decided_by: str
    decided_at: datetime


# --- documents and self-checks ------------------------------------------------------------------


class DocumentIn(_In):
    """A new version of a published document."""

    title: Text2 | None = None
    effective_from: date
    content: dict[str, Any]
    note: str | None = Field(default=None, max_length=2000)


class DocumentSummary(BaseModel):
    """One version of a document, without its content."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    kind: str
    version: int
    title: Text2
    effective_from: datetime
    sha256: str
    note: str | None
    published_by: str
    published_at: datetime
    in_force: bool  # the version in force today
    superseded_at: datetime | None  # when the next version took effect


class DocumentOut(DocumentSummary):
    """One version of a document with its content."""

    content: dict[str, Any]


class SelfCheckIn(_In):
    """Answers to a guideline's questionnaire (question id → answer)."""

    slug: str = Field(min_length=1, max_length=80)
    answers: dict[str, Any]


class SelfCheckOut(BaseModel):
    """A self-check as run: the guideline version, the answers and what they point to."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    slug: str
    version: int
    answers: dict[str, Any]
    result: dict[str, Any]
    created_by: str
    created_at: datetime


# --- statistics ---------------------------------------------------------------------------------


class CountRow(BaseModel):
    """One bar of a chart: a key, its title and the count."""

    key: str
    title: Text2
    count: int


class MonthRow(BaseModel):
    """Decisions of one month (Asia/Shanghai), by outcome."""

    month: str
    counts: dict[str, int]


class OrgSummary(BaseModel):
    """One organization's line on the regulator's desk."""

    organization_id: int
    organization_name: str
    findings: int
    open_rectifications: int
    overdue: int
    decisions: int


class StatisticsOut(BaseModel):
    """The regulator's desk: findings by enabler/rule/severity, clocks, decisions per month."""

    findings_total: int
    by_enabler: list[CountRow]
    by_rule: list[CountRow]
    by_severity: list[CountRow]
    by_status: list[CountRow]
    decisions_by_month: list[MonthRow]
    open_rectifications: list[RectificationOut]
    overdue: int
    organizations: list[OrgSummary]


class OrgHistoryOut(BaseModel):
    """Everything on record for one organization: findings, rectifications, decisions."""

    organization_id: int
    organization_name: str
    findings: list[FindingOut]
    rectifications: list[RectificationOut]
    decisions: list[DecisionOut]
    selfchecks: list[SelfCheckOut]


class ReminderRun(BaseModel):
    """What one run of the reminders job did."""

    reminded: list[int]
    overdue: list[int]
    verified: list[int]


RectificationOut.model_rebuild()
