"""Every "module:attr" an enabler declares resolves, to the kind of object the core calls.

Job handlers match ``mingyue.sdk.JobHandler`` (``def run(ctx, params) -> dict``), case hooks match
``mingyue.sdk.CaseHook`` (``def hook(*, uow, case) -> None``), the finding verifier matches
``mingyue.sdk.FindingVerifier`` (``def reverify(*, uow, finding, evidence) -> None``) and finding
rules are named, titled and cited; ``settings`` is a pydantic model and the CLI group is a Typer
app named after the key.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

import typer
from pydantic import BaseModel

from mingyue.core.plugins import Enabler, load_ref
from mingyue.devcheck.extras import explain_import_error
from mingyue.sdk import CaseKind, CaseOut, FindingOut, FindingRule, JobContext, UnitOfWork

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_EMPTY = inspect.Parameter.empty


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Return the evaluated annotations, or the raw ones when they do not evaluate."""
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return dict(getattr(fn, "__annotations__", {}))


def _fits(hint: Any, expected: type, names: tuple[str, ...]) -> bool:
    """Tell whether an annotation is compatible with ``expected`` (Any and unknowns pass)."""
    if hint is _EMPTY or hint is Any:
        return True
    if isinstance(hint, str):
        return hint == "Any" or any(n in hint for n in names)
    origin = typing.get_origin(hint) or hint
    if isinstance(origin, type):
        return issubclass(origin, expected) or issubclass(expected, origin)
    return True  # unions, type variables: not ours to judge


def _signature(fn: Any) -> inspect.Signature | str:
    if not callable(fn):
        return "is not callable"
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        return f"has no readable signature ({exc})"


def job_handler_problems(fn: Any) -> list[str]:
    """Return how ``fn`` departs from ``JobHandler``: ``(ctx: JobContext, params: dict) -> dict``."""
    sig = _signature(fn)
    if isinstance(sig, str):
        return [sig]
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in _POSITIONAL]
    out: list[str] = []
    if [p.name for p in positional[:2]] != ["ctx", "params"]:
        shown = ", ".join(p.name for p in positional) or "none"
        out.append(f"takes positional ({shown}), expected (ctx, params)")
    extra = [p.name for p in positional[2:] if p.default is _EMPTY]
    extra += [
        p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is _EMPTY
    ]
    if extra:
        out.append(f"requires more arguments: {', '.join(extra)}")
    hints = _hints(fn)
    if not _fits(hints.get("ctx", _EMPTY), JobContext, ("JobContext",)):
        out.append(f"ctx is annotated {hints['ctx']!r}, expected JobContext")
    if not _fits(hints.get("params", _EMPTY), Mapping, ("dict", "Mapping")):
        out.append(f"params is annotated {hints['params']!r}, expected dict[str, Any]")
    if not _fits(hints.get("return", _EMPTY), Mapping, ("dict", "Mapping")):
        out.append(f"returns {hints['return']!r}, expected dict[str, Any]")
    return out


def case_hook_problems(fn: Any, what: str = "hook") -> list[str]:
    """Return how ``fn`` departs from ``CaseHook``: ``(*, uow: UnitOfWork, case: CaseOut)``.

    A case kind's ``subject_view`` (``what="view"``) takes the same arguments."""
    sig = _signature(fn)
    if isinstance(sig, str):
        return [sig]
    params = sig.parameters
    out: list[str] = []
    for name in ("uow", "case"):
        p = params.get(name)
        if p is None or p.kind is not inspect.Parameter.KEYWORD_ONLY:
            returns = "None" if what == "hook" else "SubjectView | None"
            out.append(f"must take keyword-only {name}= (def {what}(*, uow, case) -> {returns})")
    extra = [
        p.name
        for p in params.values()
        if p.name not in ("uow", "case")
        and p.default is _EMPTY
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if extra:
        out.append(f"requires more arguments: {', '.join(extra)}")
    hints = _hints(fn)
    if not _fits(hints.get("uow", _EMPTY), UnitOfWork, ("UnitOfWork",)):
        out.append(f"uow is annotated {hints['uow']!r}, expected UnitOfWork")
    if not _fits(hints.get("case", _EMPTY), CaseOut, ("CaseOut",)):
        out.append(f"case is annotated {hints['case']!r}, expected CaseOut")
    return out


def finding_verifier_problems(fn: Any) -> list[str]:
    """Return how ``fn`` departs from ``FindingVerifier``: ``(*, uow, finding, evidence)``."""
    sig = _signature(fn)
    if isinstance(sig, str):
        return [sig]
    params = sig.parameters
    names = ("uow", "finding", "evidence")
    out: list[str] = []
    for name in names:
        p = params.get(name)
        if p is None or p.kind is not inspect.Parameter.KEYWORD_ONLY:
            out.append(
                f"must take keyword-only {name}= (def reverify(*, uow, finding, evidence) -> None)"
            )
    extra = [
        p.name
        for p in params.values()
        if p.name not in names
        and p.default is _EMPTY
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if extra:
        out.append(f"requires more arguments: {', '.join(extra)}")
    hints = _hints(fn)
    if not _fits(hints.get("uow", _EMPTY), UnitOfWork, ("UnitOfWork",)):
        out.append(f"uow is annotated {hints['uow']!r}, expected UnitOfWork")
    if not _fits(hints.get("finding", _EMPTY), FindingOut, ("FindingOut",)):
        out.append(f"finding is annotated {hints['finding']!r}, expected FindingOut")
    if not _fits(hints.get("evidence", _EMPTY), list, ("list", "Sequence", "EvidenceRef")):
        out.append(f"evidence is annotated {hints['evidence']!r}, expected list[EvidenceRef]")
    return out


_SEVERITIES = ("low", "medium", "high", "critical")


def check_findings(en: Enabler) -> list[str]:
    """Check the finding rules (named, titled and cited in zh and en) and the verifier."""
    p: list[str] = []
    ns = "core" if en.core else en.key
    for name, rule in en.finding_rules.items():
        where = f"{en.key}: finding rule {name}"
        if not name.startswith(ns + ".") or name == ns + ".":
            p.append(f"{where}: name must start with {ns!r}.")
        if not isinstance(rule, FindingRule):
            p.append(f"{where} is a {type(rule).__name__}, not a FindingRule")
            continue
        for label, text in (("title", rule.title), ("citation", rule.citation)):
            if not isinstance(text, dict) or not text.get("zh") or not text.get("en"):
                p.append(f"{where}: {label} lacks zh or en")
        if rule.severity not in _SEVERITIES:
            p.append(f"{where}: severity {rule.severity!r} must be one of {', '.join(_SEVERITIES)}")
        days = rule.rectify_working_days
        if not isinstance(days, int) or isinstance(days, bool) or days < 1:
            p.append(f"{where}: rectify_working_days must be a positive number of working days")
    ref = en.finding_verifier
    if ref:
        where = f"{en.key}: finding verifier ({ref})"
        try:
            fn = load_ref(ref)
        except Exception as exc:
            return [*p, f"{where} does not resolve: {explain_import_error(en, exc)}"]
        p.extend(f"{where}: {why}" for why in finding_verifier_problems(fn))
    return p


def check_job_kinds(en: Enabler) -> list[str]:
    """Resolve every job kind's handler and check it against ``JobHandler``."""
    p: list[str] = []
    for name, ref in en.job_kinds.items():
        where = f"{en.key}: job kind {name} ({ref})"
        try:
            fn = load_ref(ref)
        except Exception as exc:
            p.append(f"{where} does not resolve: {explain_import_error(en, exc)}")
            continue
        p.extend(f"{where}: handler {why}" for why in job_handler_problems(fn))
    return p


def service_problems(fn: Any) -> list[str]:
    """Return how ``fn`` departs from ``BackgroundService``: ``async def run(stopping) -> None``."""
    if not inspect.iscoroutinefunction(fn):
        return ["is not an async function (async def run(stopping: asyncio.Event) -> None)"]
    sig = _signature(fn)
    if isinstance(sig, str):
        return [sig]
    params = list(sig.parameters.values())
    required = [p.name for p in params if p.default is _EMPTY]
    if [p.name for p in params if p.kind in _POSITIONAL][:1] != ["stopping"] or len(required) != 1:
        shown = ", ".join(p.name for p in params) or "none"
        return [f"takes ({shown}), expected (stopping)"]
    return []


def check_services_and_mounts(en: Enabler) -> list[str]:
    """Resolve every background service and standard-interface mount (``Enabler.services``/``mounts``)."""
    p: list[str] = []
    for name, ref in en.services.items():
        where = f"{en.key}: service {name} ({ref})"
        if not name.startswith(en.key + "."):
            p.append(f"{where}: name must start with {en.key!r}.")
        try:
            fn = load_ref(ref)
        except Exception as exc:
            p.append(f"{where} does not resolve: {explain_import_error(en, exc)}")
            continue
        p.extend(f"{where}: {why}" for why in service_problems(fn))
    for prefix, ref in en.mounts.items():
        where = f"{en.key}: mount {prefix} ({ref})"
        try:
            router = load_ref(ref)
        except Exception as exc:
            p.append(f"{where} does not resolve: {explain_import_error(en, exc)}")
            continue
        if not hasattr(router, "routes"):
            p.append(f"{where} is a {type(router).__name__}, not an APIRouter")
            continue
        for route in router.routes:
            oid = getattr(route, "operation_id", None)
            if oid and not oid.startswith(f"{en.key}-"):
                p.append(f"{where}: operation id {oid!r} must start with '{en.key}-'")
    return p


def check_case_kinds(en: Enabler) -> list[str]:
    """Resolve every case kind and its transition hooks; check the hooks against ``CaseHook``."""
    p: list[str] = []
    ns = "core" if en.core else en.key
    for name, ref in en.case_kinds.items():
        where = f"{en.key}: case kind {name} ({ref})"
        if not name.startswith(ns + "."):
            p.append(f"{where}: name must start with {ns!r}.")
        try:
            kind = load_ref(ref)
        except Exception as exc:
            p.append(f"{where} does not resolve: {explain_import_error(en, exc)}")
            continue
        if not isinstance(kind, CaseKind):
            p.append(f"{where} is a {type(kind).__name__}, not a CaseKind")
            continue
        if kind.name != name:
            p.append(f"{where} is named {kind.name!r}")
        for transition, hook_ref in kind.hooks.items():
            hwhere = f"{en.key}: case kind {name}: hook {transition} ({hook_ref})"
            try:
                fn = load_ref(hook_ref)
            except Exception as exc:
                p.append(f"{hwhere} does not resolve: {explain_import_error(en, exc)}")
                continue
            p.extend(f"{hwhere}: {why}" for why in case_hook_problems(fn))
        if kind.subject_view:
            vwhere = f"{en.key}: case kind {name}: subject_view ({kind.subject_view})"
            try:
                fn = load_ref(kind.subject_view)
            except Exception as exc:
                p.append(f"{vwhere} does not resolve: {explain_import_error(en, exc)}")
                continue
            p.extend(f"{vwhere}: {why}" for why in case_hook_problems(fn, "view"))
    return p


def check_settings(en: Enabler) -> list[str]:
    """Resolve the ``settings`` ref: a pydantic model of ``MINGYUE_<KEY>__*``."""
    if not en.settings:
        return []
    where = f"{en.key}: settings {en.settings}"
    try:
        model = load_ref(en.settings)
    except Exception as exc:
        return [f"{where} does not resolve: {explain_import_error(en, exc)}"]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return [f"{where} is not a pydantic model"]
    return []


def check_cli_group(en: Enabler) -> list[str]:
    """Check the CLI is a Typer app whose name, when set, is the key (``mingyue <key> …``)."""
    if not en.cli or en.core:
        return []
    try:
        app = load_ref(en.cli)
    except Exception:
        return []  # reported with the other entry refs
    if not isinstance(app, typer.Typer):
        return [f"{en.key}: cli {en.cli} is a {type(app).__name__}, not a typer.Typer"]
    name = app.info.name
    if isinstance(name, str) and name != en.key:
        return [f"{en.key}: cli {en.cli} is named {name!r}; the group is `mingyue {en.key}`"]
    return []
