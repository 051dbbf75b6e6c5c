"""Build the compliance report from an APK's facts: SDKs, permissions vs App type, six categories.

Every finding carries its rule id, category, severity, evidence and source. Checks that static
analysis cannot establish are listed with ``status="needs_dynamic_testing"`` -- never as passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .bundle_sdks import match_bundle_names
from .catalogue import Catalogue, SdkHit
from .disclosure import compare
from .platform_permissions import android_equivalents
from .rulesets import AppType, RuleSets

CATEGORY_ORDER = ("1", "2", "3", "4", "5", "6", "self_start", "security")
BOOT_ACTIONS = {
    "android.intent.action.BOOT_COMPLETED",
    "android.intent.action.LOCKED_BOOT_COMPLETED",
    "android.intent.action.QUICKBOOT_POWERON",
    "com.htc.intent.action.QUICKBOOT_POWERON",
    "android.intent.action.REBOOT",
    "android.intent.action.USER_PRESENT",
    "android.intent.action.MY_PACKAGE_REPLACED",
    "android.net.conn.CONNECTIVITY_CHANGE",
    "android.intent.action.ACTION_POWER_CONNECTED",
    "android.intent.action.ACTION_POWER_DISCONNECTED",
    "android.intent.action.PACKAGE_ADDED",
    "android.intent.action.PACKAGE_REMOVED",
    "android.intent.action.MEDIA_MOUNTED",
    "android.net.wifi.STATE_CHANGE",
}
OHOS_HOME_ACTIONS = {"action.system.home", "ohos.want.action.home"}
STATUS_FAIL = "fail"
STATUS_WARN = "warn"
STATUS_INFO = "info"
STATUS_DYNAMIC = "needs_dynamic_testing"


@dataclass(frozen=True)
class Finding:
    """One result of one rule."""

    rule: str
    category: str
    severity: str
    status: str
    evidence: str
    source: str
    title_zh: str
    title_en: str

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as a JSON-ready dict."""
        return asdict(self)


@dataclass
class Report:
    """The appcheck report of one APK (plain data; ``to_dict`` is the JSON export)."""

    sha256: str
    file_name: str
    size: int
    package: str
    app_name: str
    version_name: str
    version_code: str
    min_sdk: int
    target_sdk: int
    app_type: dict[str, Any] | None
    permissions: list[str]
    dangerous_permissions: list[dict[str, Any]]
    sdks: list[SdkHit]
    exodus_trackers: list[dict[str, Any]]
    findings: list[Finding]
    incomplete: bool
    incomplete_reasons: list[str]
    signature: dict[str, Any]
    components: dict[str, int]
    native_libs: list[str]
    warnings: list[str]
    rulesets: list[dict[str, str]]
    disclosure: dict[str, Any] | None = None
    split_apks: list[str] = field(default_factory=list)
    worker_maxrss_kb: int = 0
    #: hard-coded secrets (redacted values only), see :mod:`.secrets`
    secrets: list[dict[str, Any]] = field(default_factory=list)
    #: "apk" | "hap" | "app" | "ipa"
    platform: str = "apk"
    #: format-specific facts (HarmonyOS abilities, iOS entitlements/privacy manifests...)
    extra: dict[str, Any] = field(default_factory=dict)

    def categories(self, rules: RuleSets) -> list[dict[str, Any]]:
        """Group findings by the six categories (+ self-start, security) with a status each."""
        out = []
        for cat in CATEGORY_ORDER:
            meta = rules.category(cat)
            items = [f for f in self.findings if f.category == cat]
            if any(f.status == STATUS_FAIL for f in items):
                status = "issues_found"
            elif any(f.status == STATUS_WARN for f in items):
                status = "warnings"
            elif any(f.status == STATUS_DYNAMIC for f in items):
                status = STATUS_DYNAMIC
            else:
                status = "no_static_issue"
            out.append(
                {
                    "category": cat,
                    "zh": meta["zh"],
                    "en": meta["en"],
                    "source": meta["source"],
                    "status": status,
                    "findings": [f.to_dict() for f in items],
                }
            )
        return out

    def to_dict(self, rules: RuleSets | None = None) -> dict[str, Any]:
        """Return the report as a JSON-ready dict (the CLI's and API's export format)."""
        d = {
            "sha256": self.sha256,
            "file_name": self.file_name,
            "size": self.size,
            "package": self.package,
            "app_name": self.app_name,
            "version_name": self.version_name,
            "version_code": self.version_code,
            "min_sdk": self.min_sdk,
            "target_sdk": self.target_sdk,
            "app_type": self.app_type,
            "permissions": self.permissions,
            "dangerous_permissions": self.dangerous_permissions,
            "sdks": [h.to_dict() for h in self.sdks],
            "exodus_trackers": self.exodus_trackers,
            "findings": [f.to_dict() for f in self.findings],
            "incomplete": self.incomplete,
            "incomplete_reasons": self.incomplete_reasons,
            "signature": self.signature,
            "components": self.components,
            "native_libs": self.native_libs,
            "warnings": self.warnings,
            "rulesets": self.rulesets,
            "disclosure": self.disclosure,
            "split_apks": self.split_apks,
            "secrets": self.secrets,
            "platform": self.platform,
        }
        if self.extra:
            d[self.platform] = self.extra
        if rules is not None:
            d["categories"] = self.categories(rules)
        return d


def _finding(
    rules: RuleSets, rule_id: str, status: str, evidence: str, source: str = ""
) -> Finding:
    r = rules.rule(rule_id)
    return Finding(
        rule=rule_id,
        category=str(r["category"]),
        severity=str(r["severity"]),
        status=status,
        evidence=evidence,
        source=source or str(r["source"]),
        title_zh=str(r["zh"]),
        title_en=str(r["en"]),
    )


def _dynamic(rules: RuleSets, rule_id: str) -> Finding:
    return _finding(
        rules,
        rule_id,
        STATUS_DYNAMIC,
        "Static analysis cannot establish this; run the App on a test device.",
    )


def permission_findings(
    rules: RuleSets, permissions: list[str], app_type: AppType | None
) -> tuple[list[dict[str, Any]], list[Finding]]:
    """Check dangerous permissions against the declared App type's necessary PI (Art. 4-5)."""
    table = rules.dangerous()
    dangerous: list[dict[str, Any]] = []
    findings: list[Finding] = []
    for p in permissions:
        meta = table.get(p)
        if meta is None:
            continue
        pi = meta.get("pi")
        needed: bool | None = None if app_type is None else (p in app_type.permissions)
        dangerous.append(
            {"name": p, "pi": pi or None, "zh": meta["zh"], "en": meta["en"], "necessary": needed}
        )
        if app_type is None or needed or pi is False:
            continue
        reg = rules.app_types["regulation"]["zh"]
        if app_type.no_pi:
            why = (
                f"{app_type.zh}（{app_type.en}）基本功能无须个人信息，不应申请 {p}"
                f" / basic function of type '{app_type.en}' needs no personal information"
            )
        else:
            why = (
                f"{p}（{meta['zh']}）不在{app_type.zh}必要个人信息范围内：{app_type.necessary}"
                f" / not among the necessary PI of type '{app_type.en}'"
            )
        findings.append(
            _finding(
                rules,
                "PERM_NOT_NECESSARY",
                STATUS_FAIL,
                why,
                f"{reg} 第四条、{app_type.article}; 国信办秘字〔2019〕191号 四、1",
            )
        )
    if app_type is None and dangerous:
        findings.append(
            _finding(
                rules,
                "APP_TYPE_NOT_DECLARED",
                STATUS_INFO,
                "Dangerous permissions requested: " + ", ".join(d["name"] for d in dangerous),
            )
        )
    return dangerous, findings


def _self_start(rules: RuleSets, facts: dict[str, Any], sdks: list[SdkHit]) -> list[Finding]:
    out: list[Finding] = []
    push_prefixes: list[str] = []
    push_components: set[str] = set()
    for h in sdks:
        if "push" in h.category.lower():
            push_prefixes.append(h.name)
            push_components.update(e.split(" ", 1)[-1] for e in h.evidence)
    for c in facts.get("components", []):
        if c["kind"] == "receiver":
            hits = sorted(set(c["actions"]) & BOOT_ACTIONS)
            if hits:
                out.append(
                    _finding(
                        rules,
                        "SELF_START_BOOT",
                        STATUS_WARN,
                        f"receiver {c['name']} listens to {', '.join(hits)}",
                    )
                )
        if (
            c["kind"] in ("service", "receiver", "provider")
            and c["exported"]
            and not c["permission"]
        ):
            is_push = c["name"] in push_components or any(
                k in c["name"].lower() for k in ("push", "daemon", "keepalive", "guard", "wakeup")
            )
            if is_push:
                out.append(
                    _finding(
                        rules,
                        "SELF_START_ASSOCIATED",
                        STATUS_WARN,
                        f"exported {c['kind']} {c['name']} (actions: "
                        f"{', '.join(c['actions']) or 'none'})",
                    )
                )
    return out


def _security(rules: RuleSets, facts: dict[str, Any], packers: list[SdkHit]) -> list[Finding]:
    out: list[Finding] = []
    app = facts.get("application", {})
    for c in facts.get("components", []):
        launcher = (
            "android.intent.action.MAIN" in c["actions"]
            and "android.intent.category.LAUNCHER" in c["categories"]
        ) or bool(OHOS_HOME_ACTIONS & set(c["actions"]) and "entity.system.home" in c["categories"])
        if c["exported"] and not c["permission"] and not launcher and c["enabled"]:
            out.append(
                _finding(
                    rules,
                    "SEC_EXPORTED_NO_PERMISSION",
                    STATUS_WARN,
                    f"{c['kind']} {c['name']} exported={c['exported']}, no permission",
                )
            )
    if app.get("debuggable"):
        out.append(_finding(rules, "SEC_DEBUGGABLE", STATUS_FAIL, 'android:debuggable="true"'))
    if facts.get("platform", "apk") != "apk":
        return out + _bundle_security(rules, facts)
    if app.get("allow_backup") is not False:
        ev = (
            'android:allowBackup="true"'
            if app.get("allow_backup")
            else "android:allowBackup not set (platform default: true)"
        )
        out.append(_finding(rules, "SEC_ALLOW_BACKUP", STATUS_WARN, ev))
    clear = app.get("uses_cleartext_traffic")
    if clear is True:
        out.append(
            _finding(rules, "SEC_CLEARTEXT", STATUS_WARN, 'android:usesCleartextTraffic="true"')
        )
    elif (
        clear is None and facts.get("target_sdk", 0) < 28 and not app.get("network_security_config")
    ):
        out.append(
            _finding(
                rules,
                "SEC_CLEARTEXT",
                STATUS_WARN,
                f"targetSdkVersion {facts.get('target_sdk')} < 28 and no network "
                "security config: cleartext allowed by default",
            )
        )
    sig = facts.get("signature", {})
    if not (sig.get("v1") or sig.get("v2") or sig.get("v3")):
        out.append(_finding(rules, "SEC_UNSIGNED", STATUS_FAIL, "no v1/v2/v3 signature found"))
    elif sig.get("v1") and not (sig.get("v2") or sig.get("v3")):
        out.append(
            _finding(
                rules, "SEC_V1_ONLY", STATUS_WARN, f"v1 only; minSdkVersion {facts.get('min_sdk')}"
            )
        )
    if (sig.get("v1") or sig.get("v2") or sig.get("v3")) and sig.get("verified") is False:
        out.append(
            _finding(
                rules,
                "SEC_SIGNATURE_INVALID",
                STATUS_FAIL,
                "; ".join(sig.get("problems", [])[:3]) or "signature does not verify",
            )
        )
    for cert in sig.get("certificates", []):
        if "Android Debug" in cert.get("subject", ""):
            out.append(_finding(rules, "SEC_DEBUG_CERT", STATUS_WARN, cert["subject"]))
    for hit in facts.get("secrets", [])[:20]:
        out.append(
            _finding(
                rules,
                "SEC_HARDCODED_SECRET",
                STATUS_FAIL,
                f"{hit['title_en']} ({hit['rule']}) {hit['redacted']} in {hit['location']}",
            )
        )
    for p in packers:
        out.append(_finding(rules, "SEC_PACKED", STATUS_INFO, f"{p.name}: {', '.join(p.evidence)}"))
    return out


def _bundle_security(rules: RuleSets, facts: dict[str, Any]) -> list[Finding]:
    """Signing, debug and secret checks of HarmonyOS and iOS packages."""
    out: list[Finding] = []
    sig = facts.get("signature", {})
    if not sig.get("signed"):
        out.append(
            _finding(
                rules, "SEC_UNSIGNED", STATUS_FAIL, f"no {facts.get('platform')} signature found"
            )
        )
    elif sig.get("verified") is False:
        out.append(
            _finding(
                rules,
                "SEC_SIGNATURE_INVALID",
                STATUS_FAIL,
                "; ".join(sig.get("problems", [])[:3]) or "signature does not verify",
            )
        )
    profile = sig.get("profile") or {}
    if profile.get("type") == "debug" or profile.get("get_task_allow"):
        out.append(
            _finding(
                rules,
                "SEC_DEBUG_CERT",
                STATUS_WARN,
                f"{facts.get('platform')} signed with a debug/development profile",
            )
        )
    if facts.get("application", {}).get("debuggable"):
        out.append(_finding(rules, "SEC_DEBUGGABLE", STATUS_FAIL, "debug build flag set"))
    if facts.get("application", {}).get("uses_cleartext_traffic") is True:
        out.append(
            _finding(
                rules, "SEC_CLEARTEXT", STATUS_WARN, "NSAppTransportSecurity allows arbitrary loads"
            )
        )
    for hit in facts.get("secrets", [])[:20]:
        out.append(
            _finding(
                rules,
                "SEC_HARDCODED_SECRET",
                STATUS_FAIL,
                f"{hit['title_en']} ({hit['rule']}) {hit['redacted']} in {hit['location']}",
            )
        )
    return out


def build_report(
    *,
    facts: dict[str, Any],
    catalogue: Catalogue,
    rules: RuleSets,
    sha256: str,
    file_name: str,
    size: int,
    app_type: AppType | None = None,
    policy_text: str | None = None,
) -> Report:
    """Assemble the report from parsed facts (pure: no I/O)."""
    hits = catalogue.match(facts)
    have = {h.key for h in hits}
    hits += [
        h for h in match_bundle_names(catalogue, facts.get("bundle_names", [])) if h.key not in have
    ]
    packers = [h for h in hits if h.packer]
    sdks = [h for h in hits if not h.packer]
    findings: list[Finding] = []

    # 1 -- rules not public
    pp = facts.get("privacy_evidence", []) + facts.get("privacy_assets", [])
    if not pp:
        findings.append(
            _finding(
                rules,
                "PP_NOT_FOUND",
                STATUS_FAIL,
                "no privacy-policy text, URL or asset found in DEX strings, resources or assets",
            )
        )
    findings.append(_dynamic(rules, "PP_NOT_ON_FIRST_RUN"))
    # 2 -- purposes not stated
    # plain libraries (AndroidX, ZXing...) process no personal information: TC260-PG-20205A's
    # disclosure duty is about SDKs that do, so they are listed but not asked to be disclosed
    third = [h for h in sdks if h.matched_by != ("domain",) and h.category != "Library"]
    if third and not policy_text and not facts.get("sdk_list_evidence"):
        findings.append(
            _finding(
                rules,
                "SDK_PURPOSES_NOT_LISTED",
                STATUS_WARN,
                f"{len(third)} SDKs found: " + ", ".join(h.name for h in third[:15]),
            )
        )
    findings.append(_dynamic(rules, "PURPOSE_ON_PERMISSION_REQUEST"))
    # 3 -- consent
    findings.append(_dynamic(rules, "CONSENT_BEFORE_COLLECTION"))
    findings.append(_dynamic(rules, "REREQUEST_AFTER_REFUSAL"))
    # 4 -- necessity
    # HarmonyOS/iOS permissions are judged through their Android equivalent (platform_permissions)
    aliases = android_equivalents(facts.get("platform", "apk"), facts.get("permissions", []))
    judged = (
        sorted(aliases) if facts.get("platform", "apk") != "apk" else facts.get("permissions", [])
    )
    dangerous, perm_findings = permission_findings(rules, judged, app_type)
    for d in dangerous:
        if d["name"] in aliases:
            d["declared_as"] = aliases[d["name"]]
    findings += perm_findings
    findings.append(_dynamic(rules, "COLLECTION_FREQUENCY"))
    # 5 -- sharing with third parties
    disclosure = None
    if policy_text is not None:
        prefixes = {e["key"]: e["code"] for e in catalogue.sdks}
        res = compare(third, policy_text, prefixes)
        disclosure = {"disclosed": res.disclosed, "undisclosed": res.undisclosed}
        for name in res.undisclosed:
            h = next(x for x in sdks if x.name == name)
            findings.append(
                _finding(
                    rules,
                    "SDK_UNDISCLOSED",
                    STATUS_FAIL,
                    f"{name} ({', '.join(h.matched_by)}: {h.evidence[0] if h.evidence else ''})",
                )
            )
    elif third:
        findings.append(_dynamic(rules, "SDK_DISCLOSURE_NOT_CHECKED"))
    findings.append(_dynamic(rules, "SDK_DATA_TO_THIRD_PARTIES"))
    # 6 -- user rights
    findings.append(_dynamic(rules, "DELETE_CORRECT_ACCOUNT"))
    findings.append(_dynamic(rules, "COMPLAINT_CHANNEL"))
    findings += _self_start(rules, facts, sdks)
    findings += _security(rules, facts, packers)

    reasons: list[str] = []
    if packers:
        reasons.append("packed: " + ", ".join(p.name for p in packers))
    if not facts.get("dex_members") and facts.get("platform", "apk") == "apk":
        reasons.append("no DEX code found (classes*.dex missing)")
    comps: dict[str, int] = {}
    for c in facts.get("components", []):
        comps[c["kind"]] = comps.get(c["kind"], 0) + 1
    exo = [
        {"id": t.id, "name": t.name, "categories": list(t.categories), "website": t.website}
        for tid in facts.get("exodus_tracker_ids", [])
        if (t := catalogue.tracker(tid)) is not None
    ]
    return Report(
        sha256=sha256,
        file_name=file_name,
        size=size,
        package=facts.get("package", ""),
        app_name=facts.get("app_name", ""),
        version_name=facts.get("version_name", ""),
        version_code=facts.get("version_code", ""),
        min_sdk=facts.get("min_sdk", 0),
        target_sdk=facts.get("target_sdk", 0),
        app_type=None
        if app_type is None
        else {
            "key": app_type.key,
            "n": app_type.n,
            "zh": app_type.zh,
            "en": app_type.en,
            "necessary": app_type.necessary,
            "article": app_type.article,
        },
        permissions=facts.get("permissions", []),
        dangerous_permissions=dangerous,
        sdks=sdks + packers,
        exodus_trackers=exo,
        findings=findings,
        incomplete=bool(reasons),
        incomplete_reasons=reasons,
        signature=facts.get("signature", {}),
        components=comps,
        native_libs=facts.get("native_libs", []),
        warnings=facts.get("warnings", []),
        rulesets=[
            {
                "name": "sdk_catalogue",
                "version": catalogue.version,
                "source": "; ".join(s["name"] for s in catalogue.sources),
            },
            *rules.summary(),
        ],
        disclosure=disclosure,
        worker_maxrss_kb=int(facts.get("_worker_maxrss_kb", 0)),
        secrets=list(facts.get("secrets", [])),
        platform=str(facts.get("platform", "apk")),
        extra=dict(facts.get("platform_facts", {})),
    )
