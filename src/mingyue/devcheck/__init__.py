"""``mingyue dev check``: the enabler contract, enforced (CONVENTIONS rules 1, 2, 4, 6, 10, 12).

For every installed enabler (and core app): its declaration and folder shape, every "module:attr"
it declares (job handlers against ``JobHandler``, case hooks against ``CaseHook``, the finding
verifier against ``FindingVerifier``, finding rules, settings, CLI group), its migrations'
branch label, its tests and docs, case kinds that load without its extras, function-body
imports marked ``# lazy:``; then the import contracts of pyproject's ``[tool.importlinter]``.
Each problem is one line that starts with the enabler's key.

To add a check: 1. write ``check_<thing>(en, ...) -> list[str]`` in the module it reads from;
2. call it from ``check_enabler``; 3. add a throwaway enabler that breaks it to
``tests/test_dev_check.py``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import mingyue
from mingyue.core.plugins import GROUP, Enabler, Registry, registry
from mingyue.devcheck.contracts import run_contracts
from mingyue.devcheck.extras import check_loads_without_extras, explain_entry_point_error
from mingyue.devcheck.refs import (
    check_case_kinds,
    check_cli_group,
    check_findings,
    check_job_kinds,
    check_services_and_mounts,
    check_settings,
)
from mingyue.devcheck.schedules import check_schedules
from mingyue.devcheck.shape import check_declaration, check_entry_refs, check_folder, check_i18n
from mingyue.devcheck.source import (
    check_checkout,
    check_imports,
    check_lazy,
    check_migrations,
    package_name,
    source_root,
)

__all__ = ["Report", "check_all", "check_enabler", "enabler_report", "import_config"]


@dataclass
class Report:
    """What ``mingyue dev check`` found: problems fail it, notes say what was not checked."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Tell whether no problem was found."""
        return not self.problems

    def extend(self, other: Report) -> None:
        """Add another report's problems and notes (once each)."""
        self.problems.extend(p for p in other.problems if p not in self.problems)
        self.notes.extend(n for n in other.notes if n not in self.notes)


def _packages(reg: Registry, but: str) -> dict[str, str]:
    return {
        e.key: package_name(e.package_dir)
        for e in reg.ordered()
        if not e.core and e.key != but and e.package_dir is not None
    }


def enabler_report(
    en: Enabler, reg: Registry | None = None, *, contracts_ran: bool = False
) -> Report:
    """Check one enabler; ``contracts_ran`` says the import contracts already cover its tree."""
    d = en.package_dir
    if d is None:
        return Report([f"{en.key}: package folder unknown"])
    r = Report()
    p = r.problems
    p += check_declaration(en)
    p += check_folder(en, d)
    p += check_entry_refs(en)
    p += check_cli_group(en)
    p += check_job_kinds(en)
    p += check_services_and_mounts(en)
    p += check_case_kinds(en)
    p += check_findings(en)
    p += check_schedules(en)
    p += check_settings(en)
    p += check_loads_without_extras(en)
    p += check_migrations(en, d)
    found, notes = check_checkout(en, d)
    p += found
    r.notes += notes
    if not en.core:
        p += check_lazy(en, d)
        if not (contracts_ran and package_name(d).startswith("mingyue.enablers.")):
            p += check_imports(en, d, _packages(reg or registry(), en.key))
    p += check_i18n(en, d)
    return r


def check_enabler(en: Enabler, reg: Registry | None = None) -> list[str]:
    """Return the contract violations of one enabler (empty when it honours the contract)."""
    return enabler_report(en, reg).problems


def import_config() -> Path | None:
    """Return the pyproject.toml holding ``[tool.importlinter]`` in a source checkout, if any."""
    root = source_root(Path(mingyue.__file__).parent)
    if root is None:
        return None
    config = root / "pyproject.toml"
    tool = tomllib.loads(config.read_text(encoding="utf-8")).get("tool", {})
    return config if "importlinter" in tool else None


def _entry_point_errors(reg: Registry) -> list[str]:
    eps = {ep.name: ep for ep in entry_points(group=GROUP)}
    out: list[str] = []
    for name, err in sorted(reg.errors.items()):
        ep = eps.get(name)
        try:
            if ep is not None:
                ep.load()
        except Exception as exc:
            out.append(explain_entry_point_error(name, exc))
            continue
        out.append(f"{name}: entry point failed to load: {err}")
    return out


def check_all(
    reg: Registry | None = None, *, config: Path | None = None, contracts: bool = True
) -> Report:
    """Check every enabler of a registry (default: the installed ones) and the import contracts.

    ``config`` is the file with ``[tool.importlinter]`` (default: the checkout's pyproject.toml;
    none when installed from a wheel); ``contracts=False`` skips them.
    """
    reg = reg if reg is not None else registry()
    report = Report(_entry_point_errors(reg))
    config = config if config is not None else import_config()
    contracts_ran = False
    if not contracts:
        report.notes.append("import contracts not checked: asked not to")
    elif config is None:
        report.notes.append("import contracts not checked: not a source checkout")
    else:
        problems, notes = run_contracts(config)
        contracts_ran = not notes
        report.extend(Report(problems, notes))
    for en in reg.ordered():
        report.extend(enabler_report(en, reg, contracts_ran=contracts_ran))
    return report
