"""``mingyue dev check`` fails on purpose: throwaway enablers that break the contract are named."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mingyue.core import registries
from mingyue.core.plugins import Enabler, Registry
from mingyue.devcheck import Report, check_all, check_enabler
from mingyue.devcheck.contracts import run_contracts
from mingyue.devcheck.extras import explain_entry_point_error, explain_import_error, probe_without
from mingyue.devcheck.source import package_name, unmarked_lazy_imports

SHAPE = {
    "README.md": "# throwaway\n",
    "i18n/zh_CN.toml": "",
    "i18n/en.toml": "",
    "api.py": "",
    "cli.py": "",
    "engine/__init__.py": "",
}

Build = Callable[..., Enabler]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


@pytest.fixture
def pkgs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for throwaway packages; their modules are forgotten afterwards."""
    root = tmp_path / "pkgs"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    # names an enabler registers go to the process-wide registries: restore them afterwards
    monkeypatch.setattr(registries, "_job_kinds", dict(registries._job_kinds))
    yield root
    for name in [m for m in sys.modules if m.split(".")[0].startswith("tw_")]:
        del sys.modules[name]


@pytest.fixture
def reg() -> Registry:
    """A fresh registry: the throwaway enablers never reach the global one."""
    return Registry()


@pytest.fixture
def build(pkgs: Path, reg: Registry) -> Build:
    """Write a throwaway enabler package ``key`` with the standard shape and register it."""

    def make(key: str, service: str = "", **fields: object) -> Enabler:
        d = pkgs / key
        _write(d, {**SHAPE, "__init__.py": "", "service.py": service})
        en = Enabler(
            key=key,
            title={"zh": key, "en": key},
            quality="throwaway",
            **fields,  # type: ignore[arg-type]
        )
        reg.add(en, d)
        return en

    return make


KIND_SOURCE = """
from mingyue.sdk import CaseKind, State, Transition

KIND = CaseKind(
    name="{key}.review",
    title={{"zh": "审", "en": "Review"}},
    states={{
        "open": State({{"zh": "开", "en": "Open"}}),
        "done": State({{"zh": "完", "en": "Done"}}, terminal=True),
    }},
    initial="open",
    transitions=[Transition("close", ("open",), "done", ("reviewer",), {{"zh": "关", "en": "Close"}})],
    hooks={{"close": "{hook}"}},
)
"""


GOOD_SERVICE = textwrap.dedent("""
    from typing import Any

    from mingyue.sdk import CaseKind, CaseOut, JobContext, State, Transition, UnitOfWork


    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        return {}


    def on_close(*, uow: UnitOfWork, case: CaseOut) -> None:
        return None
""")


def test_a_clean_throwaway_enabler_passes(build: Build, reg: Registry) -> None:
    en = build("tw_clean", GOOD_SERVICE, job_kinds={"tw_clean.run": "tw_clean.service:run"})
    assert check_enabler(en, reg) == []


def test_an_enabler_importing_another_is_named(build: Build, reg: Registry) -> None:
    build("tw_alpha", GOOD_SERVICE)
    en = build("tw_leaky", "import tw_alpha.service\n")
    problems = check_enabler(en, reg)
    assert any(
        p.startswith("tw_leaky: tw_leaky.service imports tw_alpha.service (l.1)")
        and "enablers never import each other (tw_alpha)" in p
        for p in problems
    ), problems


def test_an_enabler_importing_the_core_is_named(build: Build, reg: Registry) -> None:
    en = build("tw_core", "from mingyue.core.uow import UnitOfWork\nfrom mingyue.sdk import now\n")
    problems = check_enabler(en, reg)
    assert [p for p in problems if "mingyue.core.uow" in p] == [
        "tw_core: tw_core.service imports mingyue.core.uow (l.1): import only mingyue.sdk, "
        "mingyue.web.deps, mingyue.web.console, mingyue.cli_support from the platform"
    ]
    assert not [p for p in problems if "mingyue.sdk" in p.split(" imports ")[-1][:12]]


def test_a_case_hook_with_a_wrong_signature_is_named(
    build: Build, reg: Registry, pkgs: Path
) -> None:
    service = GOOD_SERVICE + "\n\ndef bad_close(uow, case):\n    return None\n"
    en = build("tw_hook", service, case_kinds={"tw_hook.review": "tw_hook.kinds:KIND"})
    _write(
        pkgs / "tw_hook",
        {"kinds.py": KIND_SOURCE.format(key="tw_hook", hook="tw_hook.service:bad_close")},
    )
    problems = check_enabler(en, reg)
    assert (
        "tw_hook: case kind tw_hook.review: hook close (tw_hook.service:bad_close): "
        "must take keyword-only uow= (def hook(*, uow, case) -> None)"
    ) in problems, problems


def test_a_job_kind_that_does_not_resolve_is_named(build: Build, reg: Registry) -> None:
    en = build(
        "tw_job",
        GOOD_SERVICE + "\n\ndef wrong(params):\n    return {}\n",
        job_kinds={"tw_job.gone": "tw_job.service:missing", "tw_job.bad": "tw_job.service:wrong"},
    )
    problems = check_enabler(en, reg)
    assert any(
        p.startswith("tw_job: job kind tw_job.gone (tw_job.service:missing) does not resolve")
        for p in problems
    ), problems
    assert (
        "tw_job: job kind tw_job.bad (tw_job.service:wrong): handler takes positional (params), "
        "expected (ctx, params)"
    ) in problems, problems


def test_unmarked_function_body_imports_are_named(build: Build, reg: Registry) -> None:
    service = (
        GOOD_SERVICE
        + "\n\ndef late() -> None:\n    import tw_lazy.engine\n"
        + "    from tw_lazy import engine  # lazy: heavy extra\n"
    )
    en = build("tw_lazy", service)
    line = service.splitlines().index("    import tw_lazy.engine") + 1
    problems = check_enabler(en, reg)
    assert [p for p in problems if "inside a function" in p] == [
        f"tw_lazy: tw_lazy.service imports tw_lazy.engine inside a function (l.{line}) "
        "without a '# lazy: <why>' mark: move it to the top"
    ]


def test_check_all_reports_every_enabler_of_its_registry(build: Build, reg: Registry) -> None:
    build("tw_ok", GOOD_SERVICE)
    build("tw_broken", GOOD_SERVICE, job_kinds={"tw_broken.x": "tw_broken.nowhere:run"})
    report = check_all(reg, contracts=False)  # the AST checks stand in for the contracts
    assert isinstance(report, Report) and not report.ok
    assert all(p.startswith("tw_broken:") for p in report.problems), report.problems


def test_import_contracts_run_against_a_temp_tree(pkgs: Path, tmp_path: Path) -> None:
    _write(
        pkgs / "tw_tree",
        {
            "__init__.py": "",
            "enablers/__init__.py": "",
            "enablers/one/__init__.py": "",
            "enablers/one/service.py": "import tw_tree.enablers.two.service\n",
            "enablers/two/__init__.py": "",
            "enablers/two/service.py": "",
        },
    )
    config = tmp_path / "pyproject.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "tw_tree"\n\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "Enablers never import each other"\ntype = "independence"\n'
        'modules = ["tw_tree.enablers.*"]\n',
        encoding="utf-8",
    )
    pytest.importorskip("importlinter")
    problems, notes = run_contracts(config)
    assert notes == []
    assert problems == [
        "tw_tree: tw_tree.enablers.one.service -> tw_tree.enablers.two.service (l.1) "
        "[Enablers never import each other]"
    ]


def test_case_kinds_must_load_without_the_extra(pkgs: Path) -> None:
    _write(pkgs / "tw_heavy", {"__init__.py": "", "kinds.py": "import csv\nKIND = 1\n"})
    _write(pkgs / "tw_light", {"__init__.py": "", "kinds.py": "KIND = 1\n"})
    failed = probe_without(["tw_heavy.kinds:KIND", "tw_light.kinds:KIND"], frozenset({"csv"}))
    assert list(failed) == ["tw_heavy.kinds:KIND"]
    assert "No module named 'csv'" in failed["tw_heavy.kinds:KIND"]


def test_a_missing_extra_names_what_to_install() -> None:
    exc = ModuleNotFoundError("No module named 'androguard'", name="androguard")
    assert explain_entry_point_error("appcheck", exc) == (
        "appcheck: needs the 'appcheck' extra: pip install 'mingyue[appcheck]' "
        "(No module named 'androguard')"
    )
    en = Enabler(key="appcheck", title={"zh": "a", "en": "a"}, extras=("appcheck",))
    assert explain_import_error(en, exc).startswith("needs the 'appcheck' extra: pip install")


def test_package_names_and_lazy_marks(pkgs: Path) -> None:
    _write(
        pkgs / "tw_pkg",
        {
            "__init__.py": "",
            "sub/__init__.py": "",
            "sub/mod.py": "def f():\n    from . import other\n    from .. import sub  # lazy: why\n",
            "sub/other.py": "",
        },
    )
    assert package_name(pkgs / "tw_pkg" / "sub") == "tw_pkg.sub"
    found = unmarked_lazy_imports(pkgs / "tw_pkg", "tw_pkg", ("tw_pkg",))
    assert [(i.importer, i.imported, i.line) for i in found] == [
        ("tw_pkg.sub.mod", "tw_pkg.sub.other", 2)
    ]


def test_a_subject_view_with_a_wrong_signature_or_missing_is_named(
    build: Build, reg: Registry, pkgs: Path
) -> None:
    service = (
        GOOD_SERVICE
        + "\n\ndef close(*, uow: UnitOfWork, case: CaseOut) -> None:\n    return None\n"
    )
    service += "\n\ndef bad_view(case):\n    return None\n"
    src = KIND_SOURCE.format(key="tw_view", hook="tw_view.service:close").replace(
        'hooks={"close": "tw_view.service:close"},',
        'hooks={"close": "tw_view.service:close"},\n    subject_view="tw_view.service:bad_view",',
    )
    assert "subject_view=" in src
    en = build("tw_view", service, case_kinds={"tw_view.review": "tw_view.kinds:KIND"})
    _write(pkgs / "tw_view", {"kinds.py": src})
    problems = check_enabler(en, reg)
    assert (
        "tw_view: case kind tw_view.review: subject_view (tw_view.service:bad_view): "
        "must take keyword-only uow= (def view(*, uow, case) -> SubjectView | None)"
    ) in problems, problems
