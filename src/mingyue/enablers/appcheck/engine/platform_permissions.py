"""HarmonyOS and iOS permissions -> the Android runtime permission the necessity rules know.

The table is data (``rules/platform_permissions.yaml``, with its sources); names it does not map are
listed in the report and not judged.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml


@cache
def table() -> dict[str, Any]:
    """The mapping file as loaded (``ohos`` and ``ios`` sections, version, source)."""
    text = (
        resources.files("mingyue.enablers.appcheck.rules")
        .joinpath("platform_permissions.yaml")
        .read_text("utf-8")
    )
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TypeError("platform_permissions.yaml is not a mapping")
    return data


def android_equivalents(platform: str, declared: list[str]) -> dict[str, str]:
    """Android permission -> the declared HarmonyOS/iOS name(s) it stands for (comma-joined)."""
    section = {"hap": "ohos", "app": "ohos", "ipa": "ios"}.get(platform)
    mapping: dict[str, str] = table().get(section, {}) if section else {}
    out: dict[str, list[str]] = {}
    for name in declared:
        android = mapping.get(name)
        if android:
            out.setdefault(android, []).append(name)
    return {a: ", ".join(sorted(names)) for a, names in out.items()}
