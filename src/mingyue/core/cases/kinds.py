"""Declarative case workflows: states with SLA clocks, transitions with roles, hooks.

To add a case kind: 1. declare ``MY_CASE = CaseKind(name="<key>.<thing>", ...)`` in your service
module; 2. add ``"<key>.<thing>": "mingyue.enablers.<key>.service:MY_CASE"`` to your Enabler's
``case_kinds``; 3. open cases with ``cases.open_case(uow=..., kind="<key>.<thing>", ...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from mingyue.core import plugins
from mingyue.core.errors import InvalidInput
from mingyue.core.plugins import Enabler, load_ref
from mingyue.core.tenancy.access import OVERSIGHT_ROLES, ROLES, Actor

# Roles that act on the submitting organization's side only inside that organization.
SUBMITTER_ROLES = frozenset({"org_admin", "member"})


@dataclass(frozen=True)
class State:
    """One state of a workflow: its title, SLA clock (hours in the state) and whether it ends it."""

    title: dict[str, str]
    sla_hours: float | None = None
    terminal: bool = False

    def due(self, entered_at: datetime) -> datetime | None:
        """Return when a case entering this state at ``entered_at`` falls overdue."""
        if self.sla_hours is None or self.terminal:
            return None
        return entered_at + timedelta(hours=self.sla_hours)


@dataclass(frozen=True)
class Transition:
    """A named move from one of ``source`` states to ``target``, open to ``roles``."""

    name: str
    source: tuple[str, ...]
    target: str
    roles: tuple[str, ...]
    title: dict[str, str]
    requires_comment: bool = False


@dataclass(frozen=True)
class SubjectView:
    """How a case's subject is shown above its history (what a reviewer decides on).

    ``title`` and each field's label may be message keys (translated on the page) or text;
    values are shown as they are; ``link`` is a same-site path to the subject's own page.
    """

    title: str
    fields: Sequence[tuple[str, str]] = ()
    link: str | None = None
    link_label: str | None = None


@dataclass(frozen=True, eq=False)
class CaseKind:
    """A workflow: states, the initial state, transitions, and hooks run inside the unit of work."""

    name: str
    title: dict[str, str]
    states: Mapping[str, State]
    initial: str
    transitions: Sequence[Transition]
    hooks: Mapping[str, str] = field(default_factory=dict)
    # Whether people may open such a case directly (API, console, CLI); an enabler's kinds are
    # usually opened by its service, with the data the workflow relies on.
    manual: bool = False
    # "module:func" -> ``def view(*, uow, case) -> SubjectView | None``: the subject shown on
    # the case page (an App report's summary, a filing's sections), checked by `mingyue dev check`.
    subject_view: str | None = None

    def __post_init__(self) -> None:
        if self.initial not in self.states:
            raise ValueError(f"{self.name}: initial state {self.initial!r} is not declared")
        if self.states[self.initial].terminal:
            raise ValueError(f"{self.name}: the initial state cannot be terminal")
        seen: set[str] = set()
        for tr in self.transitions:
            if tr.name in seen:
                raise ValueError(f"{self.name}: duplicate transition {tr.name!r}")
            seen.add(tr.name)
            for s in (*tr.source, tr.target):
                if s not in self.states:
                    raise ValueError(f"{self.name}.{tr.name}: unknown state {s!r}")
            if not tr.source:
                raise ValueError(f"{self.name}.{tr.name}: no source state")
            bad = set(tr.roles) - set(ROLES)
            if bad or not tr.roles:
                raise ValueError(f"{self.name}.{tr.name}: bad roles {sorted(bad) or '(none)'}")
        for name, ref in self.hooks.items():
            if name not in seen:
                raise ValueError(f"{self.name}: hook for unknown transition {name!r}")
            if ":" not in ref:
                raise ValueError(f"{self.name}: hook {ref!r} is not 'module:func'")
        if self.subject_view is not None and ":" not in self.subject_view:
            raise ValueError(
                f"{self.name}: subject_view {self.subject_view!r} is not 'module:func'"
            )

    def transition(self, name: str) -> Transition:
        """Return the transition of this name or raise InvalidInput."""
        for tr in self.transitions:
            if tr.name == name:
                return tr
        raise InvalidInput(
            "core.case.unknown_transition",
            f"{self.name} has no transition {name!r}",
            field="name",
            transition=name,
        )

    def hook(self, name: str) -> Callable[..., Any] | None:
        """Return the hook function of a transition, if any."""
        ref = self.hooks.get(name)
        return load_ref(ref) if ref else None

    def subject_viewer(self) -> Callable[..., SubjectView | None] | None:
        """Return the function that shows this kind's subject, if the kind declares one."""
        return load_ref(self.subject_view) if self.subject_view else None

    def describe(self) -> dict[str, Any]:
        """Return the workflow as plain data (API, docs)."""
        return {
            "name": self.name,
            "title": dict(self.title),
            "initial": self.initial,
            "manual": self.manual,
            "states": {
                k: {"title": dict(s.title), "sla_hours": s.sla_hours, "terminal": s.terminal}
                for k, s in self.states.items()
            },
            "transitions": [
                {
                    "name": t.name,
                    "source": list(t.source),
                    "target": t.target,
                    "roles": list(t.roles),
                    "title": dict(t.title),
                    "requires_comment": t.requires_comment,
                }
                for t in self.transitions
            ],
        }


def effective_roles(actor: Actor, case_org_id: int) -> frozenset[str]:
    """Return the roles an actor holds towards a case of this organization.

    Submitter-side roles (org_admin, member) count only inside the case's organization; oversight
    roles (reviewer, regulator, platform_admin, auditor) count on every case in their scope.
    """
    if actor.is_system:
        return frozenset(ROLES)
    roles = set(actor.roles & OVERSIGHT_ROLES)
    if actor.organization_id == case_org_id:
        roles |= actor.roles & SUBMITTER_ROLES
    return frozenset(roles)


_extra: dict[str, CaseKind] = {}


def register_case_kind(kind: CaseKind) -> None:
    """Register a case kind outside an Enabler declaration (tests, scripts); raise on duplicates."""
    if kind.name in _extra:
        raise ValueError(f"duplicate case kind: {kind.name}")
    _extra[kind.name] = kind


def unregister_case_kind(name: str) -> None:
    """Forget a kind registered with register_case_kind (tests)."""
    _extra.pop(name, None)


def kind_of(name: str) -> CaseKind:
    """Return the registered case kind of this name or raise InvalidInput."""
    if name in _extra:
        return _extra[name]
    try:
        kind = plugins.registry().case_kind(name)
    except KeyError:
        raise InvalidInput(
            "core.case.unknown_kind", f"unknown case kind {name!r}", field="kind", kind=name
        ) from None
    if not isinstance(kind, CaseKind) or kind.name != name:
        raise ValueError(f"case kind {name!r} is declared with a different name or type")
    return kind


def kind_names() -> list[str]:
    """Return every registered case kind name."""
    return sorted({*plugins.registry().case_kind_names(), *_extra})


def check_declared(enablers: Iterable[Enabler] | None = None) -> list[str]:
    """Return the problems of every declared case kind: import, type, name, namespace, hooks."""
    if enablers is None:
        enablers = plugins.registry().ordered()
    problems: list[str] = []
    for en in enablers:
        ns = "core" if en.core else en.key
        for name, ref in en.case_kinds.items():
            where = f"{en.key}: case kind {name}"
            if not name.startswith(ns + "."):
                problems.append(f"{where}: name must start with {ns!r}.")
            try:
                kind = load_ref(ref)
            except Exception as exc:
                problems.append(f"{where}: {ref} does not load: {type(exc).__name__}: {exc}")
                continue
            if not isinstance(kind, CaseKind):
                problems.append(f"{where}: {ref} is not a CaseKind")
                continue
            if kind.name != name:
                problems.append(f"{where}: declared as {kind.name!r}")
            for tr_name, hook_ref in kind.hooks.items():
                try:
                    fn = load_ref(hook_ref)
                except Exception as exc:
                    problems.append(f"{where}: hook {tr_name} ({hook_ref}) does not load: {exc}")
                    continue
                if not callable(fn):
                    problems.append(f"{where}: hook {tr_name} ({hook_ref}) is not callable")
            if kind.subject_view:
                try:
                    view = load_ref(kind.subject_view)
                except Exception as exc:
                    problems.append(
                        f"{where}: subject_view ({kind.subject_view}) does not load: {exc}"
                    )
                    continue
                if not callable(view):
                    problems.append(f"{where}: subject_view ({kind.subject_view}) is not callable")
    return problems


_REVIEWERS = ("reviewer", "regulator", "platform_admin")
_SUBMITTERS = ("org_admin", "member")

GENERAL = CaseKind(
    name="core.general",
    title={"zh": "通用审核事项", "en": "General review case"},
    states={
        "submitted": State({"zh": "已提交", "en": "Submitted"}, sla_hours=24),
        "in_review": State({"zh": "审核中", "en": "In review"}, sla_hours=72),
        "returned": State({"zh": "退回补正", "en": "Returned for changes"}, sla_hours=120),
        "resubmitted": State({"zh": "已重新提交", "en": "Resubmitted"}, sla_hours=24),
        "accepted": State({"zh": "已通过", "en": "Accepted"}, terminal=True),
        "rejected": State({"zh": "不予通过", "en": "Rejected"}, terminal=True),
        "withdrawn": State({"zh": "已撤回", "en": "Withdrawn"}, terminal=True),
    },
    initial="submitted",
    manual=True,
    transitions=[
        Transition(
            "start_review",
            ("submitted", "resubmitted"),
            "in_review",
            _REVIEWERS,
            {"zh": "受理审核", "en": "Start review"},
        ),
        Transition(
            "accept", ("in_review",), "accepted", _REVIEWERS, {"zh": "审核通过", "en": "Accept"}
        ),
        Transition(
            "return",
            ("in_review",),
            "returned",
            _REVIEWERS,
            {"zh": "退回补正", "en": "Return for changes"},
            requires_comment=True,
        ),
        Transition(
            "reject",
            ("in_review",),
            "rejected",
            _REVIEWERS,
            {"zh": "不予通过", "en": "Reject"},
            requires_comment=True,
        ),
        Transition(
            "resubmit",
            ("returned",),
            "resubmitted",
            _SUBMITTERS,
            {"zh": "补正后重新提交", "en": "Resubmit"},
        ),
        Transition(
            "withdraw",
            ("submitted", "returned", "resubmitted"),
            "withdrawn",
            _SUBMITTERS,
            {"zh": "撤回申请", "en": "Withdraw"},
        ),
    ],
)
