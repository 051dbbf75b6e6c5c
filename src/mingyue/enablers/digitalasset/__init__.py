"""digitalasset: digital-collectible registry, issuance, circulation rules, monitoring, audit, evidence."""

from mingyue.sdk import Enabler, NavItem, Permission, Schedule

_SERVICE = "mingyue.enablers.digitalasset.service"
_ALL = ("platform_admin", "org_admin", "member", "reviewer", "regulator", "auditor")
_ENTERPRISE = ("org_admin", "member")
# The sandbox operator's staff (reviewer role) review works and verify real names; regulators
# supervise across organizations (reveal identities, pause contracts, freeze tokens/accounts).

enabler = Enabler(
    key="digitalasset",
    title={"zh": "数字资产监管沙盒", "en": "Digital-asset sandbox"},
    summary={
        "zh": "数字藏品登记、发行、流转规则、交易监测与洗售识别、合约审计、存证",
        "en": "Digital-collectible registry, issuance, circulation rules, wash-trade monitoring, "
        "contract audit, evidence",
    },
    state="experimental",
    extras=("digitalasset",),
    quality="contracts tested on py-evm (web3 + eth-tester) and over JSON-RPC; rules, evidence, "
    "service/API/CLI/console tested incl. the two-tenant walk",
    router="mingyue.enablers.digitalasset.api:router",
    console="mingyue.enablers.digitalasset.console:router",
    cli="mingyue.enablers.digitalasset.cli:app",
    models="mingyue.enablers.digitalasset.models",
    settings="mingyue.enablers.digitalasset.settings:DigitalassetSettings",
    permissions={
        "digitalasset.read": _ALL,
        "digitalasset.work.register": Permission(roles=_ENTERPRISE, reach="own"),
        "digitalasset.work.review": ("reviewer",),
        "digitalasset.account.open": Permission(roles=_ENTERPRISE, reach="own"),
        "digitalasset.kyc.verify": ("reviewer",),
        "digitalasset.issue": Permission(roles=_ENTERPRISE, reach="own"),
        "digitalasset.transfer": Permission(roles=_ENTERPRISE, reach="own"),
        "digitalasset.evidence.build": Permission(roles=_ENTERPRISE, reach="own"),
        "digitalasset.supervise": ("regulator",),
        "digitalasset.identity.reveal": ("regulator",),
        "digitalasset.ledger.anchor": Permission(roles=("platform_admin",), reach="platform"),
        # monitoring and contract audit (da-monitor)
        "digitalasset.monitor.run": Permission(
            roles=("org_admin", "member", "regulator"), reach="own"
        ),
        "digitalasset.alert.read": _ALL,
        "digitalasset.alert.decide": ("org_admin", "reviewer", "regulator"),
        "digitalasset.label.manage": Permission(roles=("org_admin", "regulator"), reach="own"),
        "digitalasset.audit.submit": Permission(
            roles=("org_admin", "member", "regulator"), reach="own"
        ),
        "digitalasset.audit.read": _ALL,
    },
    audit_events={
        "digitalasset.work.registered": "A work was registered with its SHA-256 and SM3 hashes",
        "digitalasset.work.reviewed": "A work's content review was done (first reviewer)",
        "digitalasset.work.approved": "A work was approved and its registration certificate issued",
        "digitalasset.work.rejected": "A work was rejected in content review",
        "digitalasset.work.verified": "A file was re-verified against a registered work",
        "digitalasset.account.opened": "A custody account (platform-managed key) was opened",
        "digitalasset.kyc.verified": "A holder's real name was verified and a KYC credential issued",
        "digitalasset.collection.deployed": "An issuer's collection contract was deployed",
        "digitalasset.token.issued": "A work was issued as tokens (minted)",
        "digitalasset.transfer.done": "A collectible was transferred on the chain",
        "digitalasset.transfer.refused": "A transfer was refused by a circulation rule",
        "digitalasset.evidence.built": "An evidence package was built and its root anchored",
        "digitalasset.ledger.anchored": "A signed head of the audit ledger was anchored on the chain",
        "digitalasset.identity.revealed": "A regulator read the real name behind an address",
        "digitalasset.trace.read": "A regulator read the full trace of an asset",
        "digitalasset.contract.paused": "A regulator paused a collection contract",
        "digitalasset.contract.unpaused": "A regulator lifted the pause of a collection contract",
        "digitalasset.token.frozen": "A regulator froze a token",
        "digitalasset.token.unfrozen": "A regulator unfroze a token",
        "digitalasset.account.frozen": "A regulator froze a chain account",
        "digitalasset.account.unfrozen": "A regulator unfroze a chain account",
        "digitalasset.monitor.ran": "Trading events were checked for wash trading",
        "digitalasset.alert.decided": "An analyst confirmed a monitoring alert or marked it false",
        "digitalasset.label.added": "An address label (exchange, platform wallet, ...) was added",
        "digitalasset.audit.submitted": "Contract sources were submitted for a security audit",
        "digitalasset.audit.finished": "A contract security audit finished",
    },
    job_kinds={
        "digitalasset.anchor_ledger": f"{_SERVICE}:run_anchor_ledger_job",
        "digitalasset.audit": f"{_SERVICE}.audit:run_audit_job",
        "digitalasset.monitor": f"{_SERVICE}.monitor_jobs:run_monitor_job",
        "digitalasset.monitor_chain": f"{_SERVICE}.monitor_chain:run_chain_monitor_job",
    },
    schedules={
        "digitalasset.anchor_ledger": Schedule(
            job_kind="digitalasset.anchor_ledger",
            every_s=3600,
            misfire="run_once",
            description={
                "zh": "每小时将审计账本的签名树头锚定上链",
                "en": "Anchor the audit ledger's newest signed head on the chain, hourly",
            },
        ),
        "digitalasset.monitor_chain": Schedule(
            job_kind="digitalasset.monitor_chain",
            every_s=600,
            misfire="run_once",
            description={
                "zh": "每 10 分钟从链上拉取新的转移与成交事件，增量检测洗售并生成预警",
                "en": "Pull new transfer and sale events from the chain every 10 minutes and "
                "check them for wash trading",
            },
        ),
    },
    case_kinds={"digitalasset.work_review": "mingyue.enablers.digitalasset.cases:WORK_REVIEW_CASE"},
    nav=[
        NavItem(
            "/digitalasset",
            {"zh": "数字资产监管沙盒", "en": "Digital-asset sandbox"},
            "digitalasset.read",
        ),
        NavItem(
            "/digitalasset/monitor",
            {"zh": "数字资产交易监测", "en": "Digital-asset monitoring"},
            "digitalasset.alert.read",
        ),
        NavItem(
            "/digitalasset/audit",
            {"zh": "智能合约审计", "en": "Smart-contract audit"},
            "digitalasset.audit.read",
        ),
    ],
)
