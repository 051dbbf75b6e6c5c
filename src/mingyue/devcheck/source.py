"""Checks that read an enabler's source: migrations, tests and docs beside it, and its imports.

The tests and docs checks need a source checkout (``pyproject.toml`` above the package, not
``site-packages``); installed from a wheel they are skipped with a note.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mingyue.core.plugins import Enabler

# What an enabler may import from the platform (CONVENTIONS rule 4; pyproject [tool.importlinter]).
ALLOWED = ("mingyue.sdk", "mingyue.web.deps", "mingyue.web.console", "mingyue.cli_support")
ALLOWED_ALSO = ("mingyue.i18n",)
PRIVATE = "mingyue.sdk._"
LAZY_MARK = "# lazy:"


def source_root(package_dir: Path) -> Path | None:
    """Return the checkout holding this package (the folder of its pyproject.toml), if any."""
    for parent in package_dir.resolve().parents:
        if parent.name in ("site-packages", "dist-packages"):
            return None
        if (parent / "pyproject.toml").is_file():
            return parent
    return None


def package_name(package_dir: Path) -> str:
    """Return the dotted name of a package folder (walks up while ``__init__.py`` exists)."""
    parts = [package_dir.name]
    parent = package_dir.parent
    while (parent / "__init__.py").exists():
        parts.insert(0, parent.name)
        parent = parent.parent
    return ".".join(parts)


def check_checkout(en: Enabler, d: Path) -> tuple[list[str], list[str]]:
    """Check ``tests/enablers/<key>/`` and ``docs/<key>.md`` exist; return (problems, notes)."""
    if en.core:
        return [], []
    root = source_root(d)
    if root is None:
        return [], [f"{en.key}: not in a source checkout; tests/ and docs/ not checked"]
    p: list[str] = []
    if not (root / "tests" / "enablers" / en.key).is_dir():
        p.append(f"{en.key}: missing tests/enablers/{en.key}/ (CONVENTIONS rule 12)")
    if not (root / "docs" / f"{en.key}.md").is_file():
        p.append(f"{en.key}: missing docs/{en.key}.md (one docs page per enabler)")
    return p, []


def _assigned(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id == name and value is not None:
            try:
                return ast.literal_eval(value)
            except ValueError:
                return "<not a literal>"
    return None


def check_migrations(en: Enabler, d: Path) -> list[str]:
    """Check the enabler's Alembic revisions carry its key as their only branch label."""
    if en.core:
        return []
    versions = d / "migrations" / "versions"
    if not versions.is_dir():
        if en.models:
            return [f"{en.key}: tables but no migrations/versions/ (mingyue dev makemigration)"]
        return []
    p: list[str] = []
    roots: list[str] = []
    for f in sorted(versions.glob("*.py")):
        tree = ast.parse(f.read_text(encoding="utf-8"), filename=str(f))
        labels = _assigned(tree, "branch_labels")
        label_set = {labels} if isinstance(labels, str) else set(labels or ())  # type: ignore[call-overload]
        if label_set - {en.key}:
            p.append(f"{en.key}: migration {f.name} has branch label(s) {sorted(label_set)}")
        if _assigned(tree, "down_revision") is None:
            roots.append(f.name)
            if en.key not in label_set:
                p.append(f"{en.key}: migration {f.name} starts a branch not labelled {en.key!r}")
    if not roots and any(versions.glob("*.py")):
        p.append(f"{en.key}: migrations/versions/ has no first revision")
    return p


@dataclass(frozen=True)
class Import:
    """One import statement: the module importing, what it imports, where, and how."""

    importer: str
    imported: str
    path: Path
    line: int
    in_function: bool
    lazy_marked: bool


def _module_of(path: Path, package_dir: Path, package: str) -> str:
    rel = path.relative_to(package_dir).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([package, *parts])


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    # ``from a import b`` imports the module a.b when there is one, else an attribute of a
    return [_submodule(base, a.name) for a in node.names]


@lru_cache(maxsize=4096)
def _submodule(base: str, name: str) -> str:
    try:
        spec = importlib.util.find_spec(base)
    except (ImportError, ValueError):
        return base
    for folder in (spec.submodule_search_locations or ()) if spec else ():
        if (Path(folder) / f"{name}.py").exists() or (Path(folder) / name / "__init__.py").exists():
            return f"{base}.{name}"
    return base


def imports_in(package_dir: Path, package: str) -> Iterator[Import]:
    """Yield every import statement of the package's Python files, with absolute targets."""
    for path in sorted(package_dir.rglob("*.py")):
        if "migrations" in path.relative_to(package_dir).parts:
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        module = _module_of(path, package_dir, package)
        is_package = path.name == "__init__.py"
        tree = ast.parse(text, filename=str(path))
        yield from _walk(tree, lines, module, is_package, path, in_function=False)


def _walk(
    node: ast.AST, lines: list[str], module: str, is_package: bool, path: Path, *, in_function: bool
) -> Iterator[Import]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            end = child.end_lineno or child.lineno
            marked = any(LAZY_MARK in ln for ln in lines[child.lineno - 1 : end])
            targets = (
                [a.name for a in child.names]
                if isinstance(child, ast.Import)
                else _resolve(child, module, is_package)
            )
            for t in targets:
                yield Import(module, t, path, child.lineno, in_function, marked)
        inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
        yield from _walk(child, lines, module, is_package, path, in_function=inner)


def unmarked_lazy_imports(
    package_dir: Path, package: str, prefixes: tuple[str, ...]
) -> list[Import]:
    """Return the function-body imports of ``prefixes`` modules that lack a ``# lazy:`` mark."""
    return [
        i
        for i in imports_in(package_dir, package)
        if i.in_function
        and not i.lazy_marked
        and any(i.imported == p or i.imported.startswith(p + ".") for p in prefixes)
    ]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def check_imports(en: Enabler, d: Path, others: dict[str, str]) -> list[str]:
    """Check from the source that an enabler imports no other enabler, and only ALLOWED of us.

    ``others`` maps each other enabler's key to its package. (The import contracts check the
    same of the enablers inside ``mingyue.enablers``; this covers enablers installed apart.)
    """
    package = package_name(d)
    p: list[str] = []
    for i in imports_in(d, package):
        where = f"{en.key}: {i.importer} imports {i.imported} (l.{i.line})"
        for other_key, other_pkg in others.items():
            if _under(i.imported, other_pkg) and not _under(package, other_pkg):
                p.append(f"{where}: enablers never import each other ({other_key})")
        if not _under(i.imported, "mingyue") or _under(i.imported, package):
            continue
        if any(_under(i.imported, pkg) for pkg in others.values()):
            continue  # reported above
        public = any(_under(i.imported, a) for a in (*ALLOWED, *ALLOWED_ALSO))
        if not public or i.imported.startswith(PRIVATE):
            p.append(f"{where}: import only {', '.join(ALLOWED)} from the platform")
    return p


def check_lazy(en: Enabler, d: Path) -> list[str]:
    """Check the enabler's function-body imports of its own or platform modules carry ``# lazy:``."""
    package = package_name(d)
    return [
        f"{en.key}: {i.importer} imports {i.imported} inside a function (l.{i.line}) "
        f"without a '# lazy: <why>' mark: move it to the top"
        for i in unmarked_lazy_imports(d, package, ("mingyue", package))
    ]
