"""The Enabler declaration and its discovery through the entry-point group ``mingyue.enablers``.

To add an enabler: 1. write ``enabler = Enabler(key=..., ...)`` in its package ``__init__.py``
(strings "module:attr" for everything heavy, so discovery stays light); 2. add
``<key> = "mingyue.enablers.<key>:enabler"`` under ``[project.entry-points."mingyue.enablers"]``;
3. ``pip install -e .`` and run ``mingyue dev check``.
"""

from __future__ import annotations

import importlib
import logging
import re
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import mingyue
from mingyue.core import registries
from mingyue.core.apps import CORE_APPS
from mingyue.core.declaration import Enabler, MeterSpec, NavItem, Permission, load_ref
from mingyue.core.tenancy import access

__all__ = ["GROUP", "Enabler", "MeterSpec", "NavItem", "Registry", "load_ref", "registry"]

log = logging.getLogger(__name__)

GROUP = "mingyue.enablers"

# A standard-interface mount: lower-case path segments, never one of the platform's own roots.
_MOUNT = re.compile(r"^(/[a-z0-9][a-z0-9._-]*)+$")
RESERVED_ROOTS = frozenset(
    {
        "api",
        "static",
        "metrics",
        "verify",
        "login",
        "logout",
        "health",
        "ready",
        "docs",
        "openapi.json",
    }
)


class Registry:
    """Every discovered enabler, and the namespaced registrations they bring."""

    def __init__(self) -> None:
        self.enablers: dict[str, Enabler] = {}
        self.errors: dict[str, str] = {}

    def add(self, enabler: Enabler, package_dir: Path | None = None) -> None:
        """Add one enabler and register its names (raises on a duplicate)."""
        if enabler.key in self.enablers:
            raise ValueError(f"duplicate enabler key: {enabler.key}")
        enabler.package_dir = package_dir
        for name, perm in enabler.permissions.items():
            _check_ns(enabler, name)
            if isinstance(perm, Permission):
                access.register_permission(name, perm.roles, perm.description, perm.reach)
            else:
                access.register_permission(name, perm)
        for name, desc in enabler.audit_events.items():
            _check_ns(enabler, name)
            registries.register_event(name, desc)
        for name, ref in enabler.job_kinds.items():
            _check_ns(enabler, name)
            registries.register_job_kind(name, ref)
        for name, spec in enabler.meters.items():
            _check_ns(enabler, name)
            registries.register_meter(name, spec.unit, spec.description)
        for name, rule in enabler.finding_rules.items():
            _check_ns(enabler, name)
            registries.register_finding_rule(name, enabler.key, rule)
        if enabler.finding_verifier:
            registries.register_finding_verifier(enabler.key, enabler.finding_verifier)
        for name, sched in enabler.schedules.items():
            _check_ns(enabler, name)
            registries.register_schedule(name, enabler.key, sched)
        for prefix in enabler.mounts:
            self._check_mount(enabler, prefix)
        for name in enabler.services:
            _check_ns(enabler, name)
        self.enablers[enabler.key] = enabler

    def _check_mount(self, enabler: Enabler, prefix: str) -> None:
        if not _MOUNT.match(prefix):
            raise ValueError(f"{enabler.key}: mount {prefix!r} must look like '/ngsi-ld/v1'")
        root = prefix.split("/")[1]
        if root in RESERVED_ROOTS or root in self.enablers or root == enabler.key:
            raise ValueError(f"{enabler.key}: mount {prefix!r} takes a platform root {root!r}")
        for other in self.enablers.values():
            for theirs in other.mounts:
                if (prefix + "/").startswith(theirs + "/") or (theirs + "/").startswith(
                    prefix + "/"
                ):
                    raise ValueError(
                        f"{enabler.key}: mount {prefix!r} overlaps {other.key}'s {theirs!r}"
                    )

    def mount_prefixes(self) -> tuple[str, ...]:
        """Return every standard-interface prefix the enablers mount."""
        return tuple(p for en in self.enablers.values() for p in en.mounts)

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
    reg = Registry()
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
