"""What an enabler declares: the ``Enabler`` dataclass and its parts (menu entries, meters).

Pure data: importing it loads no service, so declarations stay light (``__init__.py`` of an
enabler imports only this, through ``mingyue.sdk``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Reach = Literal["own", "supervised", "platform"]


def load_ref(ref: str) -> Any:
    """Import "package.module:attr" (or "package.module") and return the object."""
    mod_name, _, attr = ref.partition(":")
    mod = importlib.import_module(mod_name)
    return getattr(mod, attr) if attr else mod


@dataclass(frozen=True)
class NavItem:
    """A console menu entry."""

    path: str
    title: dict[str, str]
    permission: str | None = None


@dataclass(frozen=True)
class Permission:
    """A permission's roles and reach (``docs/security.md``, "Permissions").

    ``own``: objects of the actor's organization only (the platform admin reaches all);
    ``supervised``: also objects of every organization in scope, for oversight roles
    (reviewer, regulator, auditor, platform admin) that hold it; ``platform``: the platform
    admin only. A bare roles tuple in ``Enabler.permissions`` means ``supervised``.
    """

    roles: tuple[str, ...]
    reach: Reach = "supervised"
    description: str = ""


@dataclass(frozen=True)
class MeterSpec:
    """A billable meter: its unit and what it counts."""

    unit: str
    description: str = ""


Severity = Literal["low", "medium", "high", "critical"]


@dataclass(frozen=True)
class FindingRule:
    """A rule an enabler raises findings under: its title, legal citation, severity, time limit.

    ``citation`` names the clause in both languages (``{"zh": "个人信息保护法 第六条",
    "en": "PIPL Art. 6"}``); ``rectify_working_days`` is the rule's time limit for correction in
    working days (supervision may set another in its notice).
    """

    title: dict[str, str]
    citation: dict[str, str]
    severity: Severity = "medium"
    rectify_working_days: int = 15


MisfirePolicy = Literal["skip", "run_once"]


@dataclass(frozen=True)
class Schedule:
    """Periodic work: each due time enqueues one platform job of ``job_kind`` (ADR "scheduler").

    Exactly one of ``cron`` (crontab "m h dom mon dow", in the platform's time zone, the setting
    ``timezone``) and ``every_s`` (a fixed interval in seconds). ``misfire`` says what happens to
    due times missed while no scheduler ran: ``"skip"`` drops them, ``"run_once"`` runs the job
    once for all of them. ``params`` are the job's parameters (JSON).
    """

    job_kind: str
    cron: str | None = None
    every_s: int | None = None
    misfire: MisfirePolicy = "run_once"
    params: Mapping[str, Any] = field(default_factory=dict)
    description: dict[str, str] = field(default_factory=dict)


@dataclass
class Enabler:
    """What one enabler (or core app) brings to the platform."""

    key: str
    title: dict[str, str]
    summary: dict[str, str] = field(default_factory=dict)
    router: str | None = None  # "module:attr" -> fastapi.APIRouter, mounted at /api/<key>
    console: str | None = None  # "module:attr" -> fastapi.APIRouter of HTML pages, at /<key>
    cli: str | None = None  # "module:attr" -> typer.Typer, as `mingyue <key>`
    models: str | None = None  # "module" holding its tables
    # name -> roles (reach "supervised") or Permission(roles, reach)
    permissions: dict[str, tuple[str, ...] | Permission] = field(default_factory=dict)
    audit_events: dict[str, str] = field(default_factory=dict)  # name -> description
    job_kinds: dict[str, str] = field(default_factory=dict)  # name -> "module:func"
    meters: dict[str, MeterSpec] = field(default_factory=dict)
    case_kinds: dict[str, str] = field(default_factory=dict)  # name -> "module:attr" CaseKind
    # name ("<key>.<rule>") -> FindingRule; findings are raised with mingyue.sdk.raise_finding
    finding_rules: dict[str, FindingRule] = field(default_factory=dict)
    finding_verifier: str | None = None  # "module:func" -> a FindingVerifier (re-checks a finding)
    # name ("<key>.<name>") -> Schedule; the scheduler enqueues its job kind at each due time
    schedules: dict[str, Schedule] = field(default_factory=dict)
    # Standard interfaces at fixed paths outside /api/<key> (NGSI-LD, Open311, OpenAI-compatible):
    # "/prefix" -> "module:attr" APIRouter, mounted at exactly that prefix, bearer-token auth.
    mounts: dict[str, str] = field(default_factory=dict)
    # Long-running tasks of each web process (an MQTT subscriber): name -> "module:func", an
    # ``async def run(stopping: asyncio.Event) -> None`` (sdk ``BackgroundService``), restarted
    # with back-off when it raises, stopped by setting ``stopping`` at shutdown.
    services: dict[str, str] = field(default_factory=dict)
    nav: list[NavItem] = field(default_factory=list)
    core: bool = False  # a core app (cases, jobs, billing, audit, admin)
    package_dir: Path | None = None  # filled at discovery
    settings: str | None = None  # "module:Model" -> pydantic model of MINGYUE_<KEY>__*
    state: Literal["experimental", "ready"] = "experimental"  # "ready": supported for production
    extras: tuple[str, ...] = ()  # pip extras its engines need: pip install 'mingyue[<extra>]'
    quality: str = ""  # one line: what is tested, against what

    def resolve(self, ref: str | None) -> Any:
        """Import one of the lazy references."""
        return load_ref(ref) if ref else None
