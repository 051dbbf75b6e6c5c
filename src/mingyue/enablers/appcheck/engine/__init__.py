"""appcheck engine: static compliance analysis of Android APKs (no web, no database).

from mingyue.enablers.appcheck.engine import analyze_apk
report = analyze_apk("app.apk", app_type="map_navigation")
report.to_dict()
"""

from .analyze import AnalysisOptions, analyze_apk, iter_apks, sha256_file
from .archive import ArchiveCaps, ArchiveInfo, inspect_archive
from .catalogue import Catalogue, SdkHit, build_catalogue, load_catalogue
from .errors import AppcheckError
from .report import Finding, Report
from .rulesets import AppType, RuleSets, load_rulesets
from .sandbox import SandboxLimits

__all__ = [
    "AnalysisOptions",
    "AppType",
    "AppcheckError",
    "ArchiveCaps",
    "ArchiveInfo",
    "Catalogue",
    "Finding",
    "Report",
    "RuleSets",
    "SandboxLimits",
    "SdkHit",
    "analyze_apk",
    "build_catalogue",
    "inspect_archive",
    "iter_apks",
    "load_catalogue",
    "load_rulesets",
    "sha256_file",
]
