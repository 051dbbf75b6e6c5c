"""``mingyue dev check`` on an enabler's ``schedules``: names, job kinds, triggers."""

from __future__ import annotations

from mingyue.core.declaration import Enabler
from mingyue.core.jobs.models import kinds
from mingyue.core.scheduling.triggers import problems


def check_schedules(en: Enabler) -> list[str]:
    """Check each schedule: named ``<key>.``, a declared job kind, one valid trigger."""
    p: list[str] = []
    ns = "core" if en.core else en.key
    known = set(kinds())
    for name, spec in en.schedules.items():
        if not name.startswith(ns + "."):
            p.append(f"{en.key}: schedule {name}: name must start with {ns!r}.")
        p.extend(f"{en.key}: {why}" for why in problems(name, spec, known))
        for lang in ("zh", "en"):
            if not spec.description.get(lang):
                p.append(f"{en.key}: schedule {name}: description needs {lang!r}")
    return p
