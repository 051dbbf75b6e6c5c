"""The Enabler declaration and its discovery through the entry-point group ``mingyue.enablers``.

To add an enabler: 1. write ``enabler = Enabler(key=..., ...)`` in its package ``__init__.py``
(strings "module:attr" for everything heavy, so discovery stays light); 2. add
``<key> = "mingyue.enablers.<key>:enabler"`` under ``[project.entry-points."mingyue.enablers"]``;
3. ``pip install -e .`` and run ``mingyue dev check``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

GROUP = "mingyue.enablers"


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
class MeterSpec:
    """A billable meter: its unit and what it counts."""

    unit: str
    description: str = ""


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
    permissions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    audit_events: dict[str, str] = field(default_factory=dict)  # name -> description
    job_kinds: dict[str, str] = field(default_factory=dict)  # name -> "module:func"
    meters: dict[str, MeterSpec] = field(default_factory=dict)
    case_kinds: dict[str, str] = field(default_factory=dict)  # name -> "module:attr" CaseKind
    nav: list[NavItem] = field(default_factory=list)
    core: bool = False  # a core app (cases, jobs, billing, audit, admin)
    package_dir: Path | None = None  # filled at discovery
    on_startup: str | None = None  # "module:func(settings)" run when the app starts
    settings: str | None = None  # "module:Model" -> pydantic model of MINGYUE_<KEY>__*

    def resolve(self, ref: str | None) -> Any:
        """Import one of the lazy references."""
        return load_ref(ref) if ref else None


class Registry:
    """Every discovered enabler, and the namespaced registrations they bring."""

    def __init__(self) -> None:
        self.enablers: dict[str, Enabler] = {}
        self.errors: dict[str, str] = {}

    def add(self, enabler: Enabler, package_dir: Path | None = None) -> None:
        """Add one enabler and register its names (raises on a duplicate)."""
        from mingyue.core import jobs, metering
        from mingyue.core.ledger import audit
        from mingyue.core.tenancy import access

        if enabler.key in self.enablers:
            raise ValueError(f"duplicate enabler key: {enabler.key}")
        enabler.package_dir = package_dir
        for name, roles in enabler.permissions.items():
            _check_ns(enabler, name)
            access.register_permission(name, roles)
        for name, desc in enabler.audit_events.items():
            _check_ns(enabler, name)
            audit.register_event(name, desc)
        for name, ref in enabler.job_kinds.items():
            _check_ns(enabler, name)
            jobs.register_kind(name, ref)
        for name, spec in enabler.meters.items():
            _check_ns(enabler, name)
            metering.register_meter(name, spec.unit, spec.description)
        self.enablers[enabler.key] = enabler

    def import_models(self) -> None:
        """Import every enabler's models module."""
        for en in self.enablers.values():
            if en.models:
                importlib.import_module(en.models)

    def case_kind(self, name: str) -> Any:
        """Return the CaseKind registered under this name."""
        for en in self.enablers.values():
            if name in en.case_kinds:
                return load_ref(en.case_kinds[name])
        raise KeyError(f"unknown case kind: {name}")

    def case_kind_names(self) -> list[str]:
        """Return every registered case kind name."""
        return [n for en in self.enablers.values() for n in en.case_kinds]

    def ordered(self) -> list[Enabler]:
        """Return core apps first, then enablers by key."""
        return sorted(self.enablers.values(), key=lambda e: (not e.core, e.key))


def _check_ns(enabler: Enabler, name: str) -> None:
    ns = "core" if enabler.core else enabler.key
    if not name.startswith(ns + "."):
        raise ValueError(f"{enabler.key}: name {name!r} must start with {ns!r}.")


@lru_cache(maxsize=1)
def registry() -> Registry:
    """Discover the core apps and every installed enabler (once per process)."""
    from mingyue.core.apps import CORE_APPS

    reg = Registry()
    import mingyue

    for en in CORE_APPS:
        reg.add(en, Path(mingyue.__file__).parent / "coreapps" / en.key)
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            en = ep.load()
        except Exception as exc:  # a broken enabler must not take the platform down
            log.error("enabler %s failed to load: %s", ep.name, exc)
            reg.errors[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if not isinstance(en, Enabler):
            reg.errors[ep.name] = "entry point is not an Enabler"
            continue
        mod = importlib.import_module(ep.value.split(":")[0])
        reg.add(en, Path(mod.__file__).parent if mod.__file__ else None)
    return reg


def startup_hooks() -> list[Callable[..., Any]]:
    """Return the on_startup callables of every enabler."""
    return [load_ref(e.on_startup) for e in registry().ordered() if e.on_startup]
