"""The import contracts of ``[tool.importlinter]`` in pyproject.toml, run through import-linter.

One line per broken import chain, naming the enabler (or platform part) that imports and the
contract it breaks. import-linter comes with the ``test`` extra; without it the contracts are
skipped with a note.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _chains(meta: Any) -> Iterator[list[dict[str, Any]]]:
    """Yield every import chain (a list of importer/imported links) in a contract's metadata."""
    if isinstance(meta, list):
        if meta and all(
            isinstance(x, dict) and {"importer", "imported", "line_numbers"} <= x.keys()
            for x in meta
        ):
            yield meta
            return
        for x in meta:
            yield from _chains(x)
    elif isinstance(meta, dict):
        for v in meta.values():
            yield from _chains(v)


def owner(module: str) -> str:
    """Return who owns a module: the enabler key, or the platform part (``core``, ``web`` …)."""
    parts = module.split(".")
    if len(parts) > 2 and parts[:2] == ["mingyue", "enablers"]:
        return parts[2]
    return parts[1] if len(parts) > 1 and parts[0] == "mingyue" else parts[0]


def _link(link: dict[str, Any]) -> str:
    lines = ", ".join(f"l.{n}" for n in link.get("line_numbers") or ())
    return f"{link['imported']}" + (f" ({lines})" if lines else "")


def run_contracts(config: Path) -> tuple[list[str], list[str]]:
    """Check the import contracts of a config file; return (problems, notes)."""
    try:
        import importlinter.api  # noqa: F401  # lazy: test extra; configures import-linter
        from importlinter.application import use_cases  # lazy: test extra
        from importlinter.domain.contract import NoSuchContractType  # lazy: test extra
    except ImportError:
        return [], ["import contracts not checked: pip install 'mingyue[test]' for import-linter"]
    options = use_cases.read_user_options(str(config))
    try:
        report = use_cases.create_report(options, cache_dir=None)
    except NoSuchContractType:
        # the command line registers the built-in contract types before reading the config
        use_cases._register_built_in_contract_types()
        report = use_cases.create_report(options, cache_dir=None)
    problems: list[str] = []
    seen: set[str] = set()
    for contract, check in report.get_contracts_and_checks():
        if check.kept:
            continue
        found = False
        for chain in _chains(check.metadata):
            found = True
            text = " -> ".join([chain[0]["importer"], *(_link(x) for x in chain)])
            if text not in seen:
                seen.add(text)
                problems.append(f"{owner(chain[0]['importer'])}: {text} [{contract.name}]")
        if not found:
            problems.append(f"import contract broken: {contract.name} (run lint-imports)")
    return problems, []
