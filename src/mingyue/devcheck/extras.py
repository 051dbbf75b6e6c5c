"""Extras: which pip extra a missing module belongs to, and whether case kinds load without it.

An enabler's heavy engines sit behind extras (``pip install 'mingyue[appcheck]'``); its
declaration, case kinds and hooks must load without them, so that a platform without the extra
still shows the enabler's cases. The extras' modules are found through the distribution's
metadata: ``Requires-Dist: androguard==4.1.4; extra == "appcheck"`` and
``packages_distributions()`` (import name -> distribution).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import lru_cache
from importlib import metadata

from mingyue.core.declaration import Enabler

DIST = "mingyue"
_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")

# Runs in a child process: a finder first on sys.meta_path refuses the extras' modules, as if
# they were not installed, then each "module:attr" is imported.
_PROBE = """
import importlib, importlib.abc, json, sys
blocked = frozenset(json.loads(sys.argv[1]))
class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
failed = {}
for ref in json.loads(sys.argv[2]):
    mod, _, attr = ref.partition(":")
    try:
        obj = importlib.import_module(mod)
        if attr:
            getattr(obj, attr)
    except Exception as exc:
        failed[ref] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@lru_cache(maxsize=4)
def _requirements(dist: str) -> tuple[tuple[str, str | None], ...]:
    """Return (distribution, extra or None) for each requirement of ``dist``."""
    try:
        reqs = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return ()
    out: list[tuple[str, str | None]] = []
    for req in reqs:
        name = _NAME.match(req)
        if name is None or _norm(name.group(1)) == _norm(dist):
            continue
        extra = _EXTRA.search(req)
        out.append((_norm(name.group(1)), extra.group(1) if extra else None))
    return tuple(out)


def distribution_extras(dist: str = DIST) -> frozenset[str]:
    """Return the extras the distribution declares (empty when it is not installed)."""
    try:
        return frozenset(metadata.metadata(dist).get_all("Provides-Extra") or ())
    except metadata.PackageNotFoundError:
        return frozenset()


@lru_cache(maxsize=1)
def _modules_of() -> dict[str, frozenset[str]]:
    """Return distribution (normalized) -> its top-level import names."""
    out: dict[str, set[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for d in dists:
            out.setdefault(_norm(d), set()).add(module)
    return {d: frozenset(m) for d, m in out.items()}


def extra_modules(extras: tuple[str, ...] | list[str], dist: str = DIST) -> frozenset[str]:
    """Return the top-level modules that only the given extras bring (not the base install)."""
    reqs = _requirements(dist)
    mods = _modules_of()
    base = {m for d, extra in reqs if extra is None for m in mods.get(d, ())}
    wanted = {m for d, extra in reqs if extra in extras for m in mods.get(d, {d.replace("-", "_")})}
    return frozenset(wanted - base - {"mingyue"})


def extra_for_module(module: str, extras: tuple[str, ...], dist: str = DIST) -> str | None:
    """Return which of ``extras`` (or of the distribution's extras) brings ``module``."""
    top = module.partition(".")[0]
    reqs = _requirements(dist)
    mods = _modules_of()
    candidates = [e for e in extras] + sorted({e for _, e in reqs if e and e not in extras})
    for extra in candidates:
        for d, e in reqs:
            if e == extra and (top in mods.get(d, ()) or _norm(top) == d):
                return extra
    return None


def explain_import_error(en: Enabler, exc: BaseException) -> str:
    """Describe a failed import; name the extra to install when a module of one is missing."""
    text = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, ImportError) or not exc.name:
        return text
    top = exc.name.partition(".")[0]
    own = en.package_dir.name if en.package_dir else en.key
    if top in ("mingyue", own):
        return text
    extra = extra_for_module(exc.name, en.extras)
    if extra is None and len(en.extras) == 1:
        extra = en.extras[0]
    if extra is None and en.extras:
        names = ", ".join(repr(e) for e in en.extras)
        return f"needs one of its extras ({names}) installed ({exc})"
    if extra is None:
        return text
    return f"needs the {extra!r} extra: pip install '{DIST}[{extra}]' ({exc})"


def explain_entry_point_error(key: str, exc: BaseException) -> str:
    """Describe an entry point that failed to load, naming the extra to install if one is."""
    if isinstance(exc, ImportError) and exc.name and not exc.name.startswith("mingyue"):
        extra = extra_for_module(exc.name, ())
        if extra is None and key in distribution_extras():
            extra = key
        if extra is not None:
            return f"{key}: needs the {extra!r} extra: pip install '{DIST}[{extra}]' ({exc})"
    return f"{key}: entry point failed to load: {type(exc).__name__}: {exc}"


def probe_without(refs: list[str], blocked: frozenset[str]) -> dict[str, str]:
    """Import each "module:attr" in a fresh interpreter where ``blocked`` modules are missing.

    Returns ref -> the error, for each ref that does not load.
    """
    if not refs:
        return {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(sorted(blocked)), json.dumps(refs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return dict.fromkeys(refs, f"the probe crashed: {tail}")
    result: dict[str, str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def check_loads_without_extras(en: Enabler) -> list[str]:
    """Check the case kinds load without the enabler's extras (in a child process)."""
    if not en.extras or not en.case_kinds:
        return []
    blocked = extra_modules(en.extras)
    if not blocked:
        return []
    refs = sorted(set(en.case_kinds.values()))
    names = ", ".join(repr(e) for e in en.extras)
    return [
        f"{en.key}: case kind {ref} does not load without the {names} extra: {err}"
        for ref, err in sorted(probe_without(refs, blocked).items())
    ]
