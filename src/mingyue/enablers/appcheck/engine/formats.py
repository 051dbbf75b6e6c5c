"""Which kind of App package an archive is, from its entry names alone (no parsing, no imports).

APK: ``AndroidManifest.xml`` at the root. HarmonyOS module (``.hap``): ``module.json`` (stage model)
or ``config.json`` (FA model) at the root; HarmonyOS bundle (``.app``): ``.hap`` members and no module
file of its own. iOS (``.ipa``): ``Payload/<name>.app/Info.plist``.
"""

from __future__ import annotations

import re

MODULE_FILES = ("module.json", "config.json")
IPA_INFO_RE = re.compile(r"^Payload/[^/]+\.app/Info\.plist$")


def is_hap(names: list[str]) -> bool:
    """A HarmonyOS module: module.json (stage) or config.json (FA) at the root."""
    return any(n in names for n in MODULE_FILES)


def is_app_bundle(names: list[str]) -> bool:
    """A HarmonyOS .app: ``.hap`` members (and usually pack.info), no module file of its own."""
    return not is_hap(names) and any(n.lower().endswith(".hap") for n in names)


def is_ipa(names: list[str]) -> bool:
    """An iOS App archive: ``Payload/*.app/Info.plist``."""
    return any(IPA_INFO_RE.match(n) for n in names)


def package_kind(names: list[str]) -> str:
    """ "apk", "hap", "app" or "ipa" (an archive that is none of them counts as "apk")."""
    if "AndroidManifest.xml" in names:
        return "apk"
    if is_hap(names):
        return "hap"
    if is_app_bundle(names):
        return "app"
    if is_ipa(names):
        return "ipa"
    return "apk"
