"""How people read a report: its summary, and the engine's evidence in their language.

The engine writes its evidence as English templates (the JSON export and the signed digest keep
them as they are); the console page, the PDF and the review case show them through the
catalogue (``appcheck.ev.*``), recognised by the shape each template has in
:mod:`.engine.report`. Evidence of no known shape (a certificate subject, a packer's matches)
is data and shown as it is. Pure: a report dict in, plain values out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mingyue.i18n import t

SEVERITIES = ("high", "medium", "low", "info")
#: message keys of the values shown as badges (listed so the i18n contract sees every key)
SEVERITY_KEYS = {
    "high": "appcheck.sev.high",
    "medium": "appcheck.sev.medium",
    "low": "appcheck.sev.low",
    "info": "appcheck.sev.info",
}
COMPONENT_KEYS = {
    "activity": "appcheck.component.activity",
    "service": "appcheck.component.service",
    "receiver": "appcheck.component.receiver",
    "provider": "appcheck.component.provider",
}
MATCH_KEYS = {
    "code": "appcheck.match.code",
    "component": "appcheck.match.component",
    "domain": "appcheck.match.domain",
    "native_lib": "appcheck.match.native_lib",
    "exodus": "appcheck.match.exodus",
}
SDK_CATEGORY_KEYS = {
    "library": "appcheck.sdkcat.library",
    "analytics": "appcheck.sdkcat.analytics",
    "tracker": "appcheck.sdkcat.tracker",
    "advertisement": "appcheck.sdkcat.advertisement",
    "push": "appcheck.sdkcat.push",
    "location": "appcheck.sdkcat.location",
    "crash reporting": "appcheck.sdkcat.crash_reporting",
    "profiling": "appcheck.sdkcat.profiling",
    "social": "appcheck.sdkcat.social",
    "login": "appcheck.sdkcat.login",
    "sharing": "appcheck.sdkcat.sharing",
    "payment": "appcheck.sdkcat.payment",
    "identification": "appcheck.sdkcat.identification",
    "packer": "appcheck.sdkcat.packer",
    "security": "appcheck.sdkcat.security",
    "hardening": "appcheck.sdkcat.hardening",
    "logging": "appcheck.sdkcat.logging",
    "webview engine": "appcheck.sdkcat.webview_engine",
}
CATEGORY_STATUS_KEYS = {
    "issues_found": "appcheck.cat_issues_found",
    "warnings": "appcheck.cat_warnings",
    "needs_dynamic_testing": "appcheck.cat_needs_dynamic_testing",
    "no_static_issue": "appcheck.cat_no_static_issue",
}
REVIEW_DECISION_KEYS = {
    "": "appcheck.review.pending",
    "accepted": "appcheck.review.accepted",
    "returned": "appcheck.review.returned",
}
CONCLUSION_KEYS = {
    "issues": "appcheck.conclusion.issues",
    "warnings": "appcheck.conclusion.warnings",
    "clean": "appcheck.conclusion.clean",
}


def _kind(name: str, locale: str) -> str:
    key = COMPONENT_KEYS.get(name)
    return t(key, locale) if key else name


def _matched(names: str, locale: str) -> str:
    sep = "、" if locale == "zh_CN" else ", "
    return sep.join(t(MATCH_KEYS[m], locale) if m in MATCH_KEYS else m for m in names.split(", "))


# Each engine template: (rule or None for any, its pattern, key, parameters from the match).
_Params = Callable[[re.Match[str], str], dict[str, str]]


def _groups(m: re.Match[str], locale: str) -> dict[str, str]:
    return {k: v or "" for k, v in m.groupdict().items()}


def _component(m: re.Match[str], locale: str) -> dict[str, str]:
    return {**_groups(m, locale), "kind": _kind(m["kind"], locale)}


def _sdk(m: re.Match[str], locale: str) -> dict[str, str]:
    return {**_groups(m, locale), "matched_by": _matched(m["matched_by"], locale)}


def _exported_actions(m: re.Match[str], locale: str) -> dict[str, str]:
    actions = m["actions"]
    none = actions == "none"
    return {
        **_component(m, locale),
        "actions": t("appcheck.ev.no_actions", locale) if none else actions,
    }


_TEMPLATES: tuple[tuple[str | None, re.Pattern[str], str, _Params], ...] = (
    (
        None,
        re.compile(r"Static analysis cannot establish this; run the App on a test device\."),
        "appcheck.ev.dynamic",
        _groups,
    ),
    (
        "PERM_NOT_NECESSARY",
        re.compile(
            r"(?P<type_zh>.+?)（(?P<type_en>.+?)）基本功能无须个人信息，不应申请 (?P<perm>\S+)"
            r" / basic function of type '.*' needs no personal information"
        ),
        "appcheck.ev.perm_no_pi",
        _groups,
    ),
    (
        "PERM_NOT_NECESSARY",
        re.compile(
            r"(?P<perm>\S+)（(?P<perm_zh>.+?)）不在(?P<type_zh>.+?)必要个人信息范围内：(?P<necessary>.*)"
            r" / not among the necessary PI of type '(?P<type_en>.*)'"
        ),
        "appcheck.ev.perm_not_necessary",
        _groups,
    ),
    (
        "APP_TYPE_NOT_DECLARED",
        re.compile(r"Dangerous permissions requested: (?P<perms>.*)"),
        "appcheck.ev.perms_requested",
        _groups,
    ),
    (
        "PP_NOT_FOUND",
        re.compile(
            r"no privacy-policy text, URL or asset found in DEX strings, resources or assets"
        ),
        "appcheck.ev.pp_not_found",
        _groups,
    ),
    (
        "SDK_PURPOSES_NOT_LISTED",
        re.compile(r"(?P<n>\d+) SDKs found: (?P<names>.*)"),
        "appcheck.ev.sdks_found",
        _groups,
    ),
    (
        "SDK_UNDISCLOSED",
        re.compile(r"(?P<name>.+) \((?P<matched_by>[a-z_, ]+): (?P<evidence>.*)\)"),
        "appcheck.ev.sdk_undisclosed",
        _sdk,
    ),
    (
        "SELF_START_BOOT",
        re.compile(r"receiver (?P<name>\S+) listens to (?P<actions>.*)"),
        "appcheck.ev.boot_receiver",
        _groups,
    ),
    (
        "SELF_START_ASSOCIATED",
        re.compile(r"exported (?P<kind>[a-z]+) (?P<name>\S+) \(actions: (?P<actions>.*)\)"),
        "appcheck.ev.exported_push",
        _exported_actions,
    ),
    (
        "SEC_EXPORTED_NO_PERMISSION",
        re.compile(r"(?P<kind>[a-z]+) (?P<name>\S+) exported=(?P<exported>\S+), no permission"),
        "appcheck.ev.exported_no_permission",
        _component,
    ),
    (
        "SEC_DEBUGGABLE",
        re.compile(r'android:debuggable="true"'),
        "appcheck.ev.debuggable",
        _groups,
    ),
    (
        "SEC_ALLOW_BACKUP",
        re.compile(r'android:allowBackup="true"'),
        "appcheck.ev.allow_backup",
        _groups,
    ),
    (
        "SEC_ALLOW_BACKUP",
        re.compile(r"android:allowBackup not set \(platform default: true\)"),
        "appcheck.ev.allow_backup_default",
        _groups,
    ),
    (
        "SEC_CLEARTEXT",
        re.compile(r'android:usesCleartextTraffic="true"'),
        "appcheck.ev.cleartext",
        _groups,
    ),
    (
        "SEC_CLEARTEXT",
        re.compile(
            r"targetSdkVersion (?P<target>\S+) < 28 and no network security config: "
            r"cleartext allowed by default"
        ),
        "appcheck.ev.cleartext_default",
        _groups,
    ),
    (
        "SEC_UNSIGNED",
        re.compile(r"no v1/v2/v3 signature found"),
        "appcheck.ev.unsigned",
        _groups,
    ),
    (
        "SEC_V1_ONLY",
        re.compile(r"v1 only; minSdkVersion (?P<min_sdk>\S+)"),
        "appcheck.ev.v1_only",
        _groups,
    ),
    (
        "SEC_HARDCODED_SECRET",
        re.compile(r"(?P<title>.+) \((?P<rule>[a-z0-9-]+)\) (?P<redacted>\S+) in (?P<location>.+)"),
        "appcheck.ev.secret",
        _groups,
    ),
    ("SEC_SIGNATURE_INVALID", re.compile(r"(?P<problems>.+)"), "appcheck.ev.sig_invalid", _groups),
    (
        "SEC_UNSIGNED",
        re.compile(r"no (?P<platform>hap|app|ipa) signature found"),
        "appcheck.ev.bundle_unsigned",
        _groups,
    ),
    (
        "SEC_DEBUG_CERT",
        re.compile(r"(?P<platform>hap|app|ipa) signed with a debug/development profile"),
        "appcheck.ev.bundle_debug_profile",
        _groups,
    ),
    ("SEC_DEBUGGABLE", re.compile(r"debug build flag set"), "appcheck.ev.bundle_debug", _groups),
    (
        "SEC_CLEARTEXT",
        re.compile(r"NSAppTransportSecurity allows arbitrary loads"),
        "appcheck.ev.ats_arbitrary",
        _groups,
    ),
)
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"packed: (?P<names>.*)"), "appcheck.reason.packed"),
    (re.compile(r"no DEX code found \(classes\*\.dex missing\)"), "appcheck.reason.no_dex"),
)


def evidence_text(finding: dict[str, Any], locale: str) -> str:
    """Return a finding's evidence in the locale (the engine's text when it is data)."""
    text = str(finding.get("evidence") or "")
    rule = finding.get("rule")
    for only, pattern, key, params in _TEMPLATES:
        if only is not None and only != rule:
            continue
        m = pattern.fullmatch(text)
        if m is not None:
            return t(key, locale, **params(m, locale))
    return text


def known_evidence(finding: dict[str, Any]) -> bool:
    """Tell whether a finding's evidence has one of the engine's template shapes."""
    text = str(finding.get("evidence") or "")
    return any(
        (only is None or only == finding.get("rule")) and pattern.fullmatch(text)
        for only, pattern, _key, _params in _TEMPLATES
    )


def reason_text(reason: str, locale: str) -> str:
    """Return one reason a report is incomplete, in the locale."""
    for pattern, key in _REASONS:
        m = pattern.fullmatch(reason)
        if m is not None:
            return t(key, locale, **{k: v or "" for k, v in m.groupdict().items()})
    return reason


def sdk_category(category: str, locale: str) -> str:
    """Return an SDK catalogue category ("Location, Analytics", "Social / login") in the locale."""
    sep = "、" if locale == "zh_CN" else ", "

    def one(term: str) -> str:
        key = SDK_CATEGORY_KEYS.get(term.strip().lower())
        return t(key, locale) if key else term.strip()

    parts = [" / ".join(one(x) for x in p.split("/")) for p in category.split(",") if p.strip()]
    return sep.join(parts) or category


def matched_by(names: list[str], locale: str) -> str:
    """Return how an SDK was recognised (code, component, domain …) in the locale."""
    return _matched(", ".join(names), locale)


@dataclass
class RuleRow:
    """The findings of one rule in one category: one row, its pieces of evidence listed."""

    rule: str
    severity: str
    status: str
    title_zh: str
    title_en: str
    source: str
    evidence: list[str] = field(default_factory=list)


def rows(findings: list[dict[str, Any]], locale: str) -> list[RuleRow]:
    """Group a category's findings by rule, in the order they came, evidence translated."""
    out: dict[str, RuleRow] = {}
    for f in findings:
        row = out.get(f["rule"])
        if row is None:
            row = out[f["rule"]] = RuleRow(
                rule=str(f["rule"]),
                severity=str(f.get("severity", "info")),
                status=str(f.get("status", "")),
                title_zh=str(f.get("title_zh", "")),
                title_en=str(f.get("title_en", "")),
                source=str(f.get("source", "")),
            )
        row.evidence.append(evidence_text(f, locale))
    return list(out.values())


@dataclass
class Summary:
    """What a reader needs before the details: SDKs, trackers, permissions, counts, conclusion."""

    third_party: list[str]
    libraries: int
    trackers: list[str]
    packers: list[str]
    dangerous: int
    unnecessary: list[str]
    issues: dict[str, int]  # failed checks by severity (high, medium, low, info)
    warnings: dict[str, int]  # checks that need attention, by severity
    dynamic: int  # checks static analysis cannot decide
    conclusion: str  # "issues" | "warnings" | "clean"
    incomplete: bool

    @property
    def issue_total(self) -> int:
        """Return the number of failed checks."""
        return sum(self.issues.values())

    @property
    def warning_total(self) -> int:
        """Return the number of checks that need attention."""
        return sum(self.warnings.values())

    def conclusion_text(self, locale: str) -> str:
        """Return the conclusion as a sentence in the locale."""
        return t(
            CONCLUSION_KEYS[self.conclusion],
            locale,
            issues=self.issue_total,
            high=self.issues.get("high", 0),
            warnings=self.warning_total,
            dynamic=self.dynamic,
        )


def summarize(report: dict[str, Any]) -> Summary:
    """Return the summary block of a report (``get_report`` output or the engine's dict)."""
    sdks = [s for s in report.get("sdks", []) if not s.get("packer")]
    findings = report.get("findings", [])

    def by_severity(status: str) -> dict[str, int]:
        return {
            sev: sum(1 for f in findings if f.get("status") == status and f["severity"] == sev)
            for sev in SEVERITIES
        }

    issues, warnings = by_severity("fail"), by_severity("warn")
    conclusion = (
        "issues" if any(issues.values()) else "warnings" if any(warnings.values()) else "clean"
    )
    return Summary(
        third_party=[s["name"] for s in sdks if s.get("category") != "Library"],
        libraries=sum(1 for s in sdks if s.get("category") == "Library"),
        trackers=[str(x.get("name")) for x in report.get("exodus_trackers") or []],
        packers=[s["name"] for s in report.get("sdks", []) if s.get("packer")],
        dangerous=len(report.get("dangerous_permissions") or []),
        unnecessary=[
            str(d["name"])
            for d in report.get("dangerous_permissions") or []
            if d.get("necessary") is False
        ],
        issues=issues,
        warnings=warnings,
        dynamic=sum(1 for f in findings if f.get("status") == "needs_dynamic_testing"),
        conclusion=conclusion,
        incomplete=bool(report.get("incomplete")),
    )
