"""Hard-coded secrets in App packages: cloud access keys, API tokens, private keys, JWTs.

Format rules follow the public gitleaks rule set (github.com/gitleaks/gitleaks, ``config/
gitleaks.toml``: ``alibaba-access-key-id``, ``aws-access-token``, ``github-pat``, ``slack-*``,
``stripe-access-token``, ``gcp-api-key``, ``private-key``, ``jwt``) and the vendors' documented key
formats (Tencent Cloud SecretId ``AKID…``, Alibaba Cloud AccessKey ID ``LTAI…``); keys without a
prefix (Huawei Cloud AK/SK, Baidu AI Cloud API/Secret Key, Alibaba AccessKey Secret) need a vendor
keyword next to an assignment, as gitleaks' keyword rules do. Every candidate then passes
false-positive guards: a Shannon-entropy floor per rule, placeholders and documentation examples
(``EXAMPLE``, ``xxxx``, ``your_…``, AWS's ``AKIAIOSFODNN7EXAMPLE``), runs of one character.
Values are only ever reported redacted: first 4 and last 2 characters.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass

MAX_HITS = 50
PLACEHOLDER_RE = re.compile(
    r"example|sample|dummy|placeholder|your[_-]?|xxxx|\*\*\*\*|<|>|\$\{|test[_-]?key|"
    r"1234567|abcdefgh|0000000",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SecretRule:
    """One detection rule: a bytes regex whose group ``s`` is the secret, and its guards."""

    id: str
    zh: str
    en: str
    pattern: re.Pattern[bytes]
    min_entropy: float
    source: str
    #: literal anchors found with ``bytes.find`` first (fast); the regex only runs near them
    anchors: tuple[bytes, ...] = ()
    #: anchors are searched in the lower-cased data (keyword rules)
    lower: bool = False
    back: int = 0
    forward: int = 160


def _r(rx: str, flags: int = 0) -> re.Pattern[bytes]:
    return re.compile(rx.encode(), flags)


_ASSIGN = r"[\w.-]{0,25}[\"']?\s{0,3}[:=]\s{0,3}[\"']?"
RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "alibaba-access-key-id",
        "阿里云 AccessKey ID",
        "Alibaba Cloud AccessKey ID",
        _r(r"(?P<s>LTAI[A-Za-z0-9]{12,20})(?![A-Za-z0-9])"),
        3.0,
        "gitleaks alibaba-access-key-id; Alibaba Cloud RAM docs",
        (b"LTAI",),
    ),
    SecretRule(
        "alibaba-secret-key",
        "阿里云 AccessKey Secret",
        "Alibaba Cloud AccessKey Secret",
        _r(
            r"(?:aliyun|alibaba|accesskeysecret|access_key_secret)"
            + _ASSIGN
            + r"(?P<s>[A-Za-z0-9]{30})(?![A-Za-z0-9])",
            re.IGNORECASE,
        ),
        3.5,
        "gitleaks alibaba-secret-key",
        (b"aliyun", b"alibaba", b"accesskeysecret", b"access_key_secret"),
        True,
    ),
    SecretRule(
        "tencent-secret-id",
        "腾讯云 SecretId",
        "Tencent Cloud SecretId",
        _r(r"(?P<s>AKID[A-Za-z0-9]{32})(?![A-Za-z0-9])"),
        3.5,
        "Tencent Cloud API key docs (SecretId AKID + 32 characters)",
        (b"AKID",),
    ),
    SecretRule(
        "aws-access-key-id",
        "AWS 访问密钥 ID",
        "AWS access key ID",
        _r(r"(?P<s>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9])"),
        3.0,
        "gitleaks aws-access-token; AWS IAM docs",
        (b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"A3T"),
    ),
    SecretRule(
        "huawei-cloud-access-key",
        "华为云 AK/SK",
        "Huawei Cloud access key (AK/SK)",
        _r(
            r"(?:huawei|hwcloud|huaweicloud|obs)"
            + _ASSIGN
            + r"(?P<s>[A-Za-z0-9]{20}|[A-Za-z0-9]{40})(?![A-Za-z0-9])",
            re.IGNORECASE,
        ),
        3.2,
        "Huawei Cloud IAM access keys (AK 20 / SK 40 characters)",
        (b"huawei", b"hwcloud", b"obs_", b"obs."),
        True,
    ),
    SecretRule(
        "baidu-api-key",
        "百度智能云 API Key/Secret Key",
        "Baidu AI Cloud API key / secret key",
        _r(
            r"baidu" + _ASSIGN + r"(?P<s>[A-Za-z0-9]{24}|[A-Za-z0-9]{32})(?![A-Za-z0-9])",
            re.IGNORECASE,
        ),
        3.5,
        "Baidu AI Cloud docs (API Key 24 / Secret Key 32 characters)",
        (b"baidu",),
        True,
    ),
    SecretRule(
        "github-pat",
        "GitHub 访问令牌",
        "GitHub token",
        _r(
            r"(?P<s>(?:ghp|gho|ghu|ghs|ghr)_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82})"
            r"(?![A-Za-z0-9_])"
        ),
        3.0,
        "gitleaks github-pat / github-fine-grained-pat",
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
    ),
    SecretRule(
        "slack-token",
        "Slack 令牌",
        "Slack token",
        _r(r"(?P<s>xox[baprse]-[0-9A-Za-z]{8,}-[0-9A-Za-z-]{8,72})"),
        3.0,
        "gitleaks slack-bot-token / slack-user-token",
        (b"xox",),
    ),
    SecretRule(
        "stripe-secret-key",
        "Stripe 密钥",
        "Stripe secret key",
        _r(r"(?P<s>(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,99})(?![A-Za-z0-9])"),
        3.0,
        "gitleaks stripe-access-token",
        (b"k_live_", b"k_test_"),
        False,
        1,
    ),
    SecretRule(
        "gcp-api-key",
        "Google API Key",
        "Google API key",
        _r(r"(?P<s>AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])"),
        3.0,
        "gitleaks gcp-api-key",
        (b"AIza",),
    ),
    SecretRule(
        "private-key",
        "私钥（PEM）",
        "Private key (PEM)",
        _r(
            r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----\s*(?P<s>[A-Za-z0-9+/=\s\\n]{64,}?)"
            r"\s*-----END[ A-Z0-9_-]{0,100}PRIVATE KEY"
        ),
        4.0,
        "gitleaks private-key; RFC 7468",
        (b"PRIVATE KEY-----",),
        False,
        130,
        16384,
    ),
    SecretRule(
        "jwt",
        "JSON Web Token",
        "JSON Web Token",
        _r(r"(?P<s>eyJ[A-Za-z0-9_-]{15,}\.eyJ[A-Za-z0-9_-]{15,}\.[A-Za-z0-9_-]{10,})"),
        3.5,
        "gitleaks jwt; RFC 7519",
        (b"eyJ",),
        False,
        0,
        4096,
    ),
)
_BY_ID = {r.id: r for r in RULES}


@dataclass(frozen=True)
class SecretHit:
    """One secret found: rule id, redacted value, where, and its entropy."""

    rule: str
    title_zh: str
    title_en: str
    redacted: str
    location: str
    entropy: float

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def redact(s: str) -> str:
    """First 4 and last 2 characters, the rest hidden."""
    return f"{s[:4]}…{s[-2:]}" if len(s) > 8 else "…"


def _jwt_ok(token: str) -> bool:
    head = token.split(".", 1)[0]
    try:
        data = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return isinstance(data, dict) and "alg" in data


def plausible(rule: SecretRule, value: str) -> bool:
    """The false-positive guards: placeholder words, one-character runs, entropy floor."""
    body = re.sub(r"\s|\\n", "", value)
    if PLACEHOLDER_RE.search(body) and rule.id != "private-key":
        return False
    if len(set(body)) <= 4 or re.search(r"(.)\1{7,}", body):
        return False
    if entropy(body) < rule.min_entropy:
        return False
    return not (rule.id == "jwt" and not _jwt_ok(body))


def _candidates(rule: SecretRule, data: bytes, lowered: bytes) -> list[re.Match[bytes]]:
    hay = lowered if rule.lower else data
    out: list[re.Match[bytes]] = []
    for anchor in rule.anchors:
        pos = hay.find(anchor)
        while pos >= 0 and len(out) < 4 * MAX_HITS:
            start = max(0, pos - rule.back)
            m = rule.pattern.search(data, start, pos + len(anchor) + rule.forward)
            if m is not None:
                out.append(m)
            pos = hay.find(anchor, pos + 1)
    return out


def scan_bytes(
    data: bytes, location: str, seen: set[tuple[str, str]] | None = None
) -> list[SecretHit]:
    """Find the secrets in ``data`` (text, DEX string region, binary strings) at ``location``."""
    seen = seen if seen is not None else set()
    hits: list[SecretHit] = []
    lowered = data.lower()
    for rule in RULES:
        for m in _candidates(rule, data, lowered):
            value = m.group("s").decode("latin-1")
            key = (rule.id, value)
            if key in seen or not plausible(rule, value):
                continue
            seen.add(key)
            body = re.sub(r"\s|\\n", "", value)
            hits.append(
                SecretHit(
                    rule.id, rule.zh, rule.en, redact(body), location, round(entropy(body), 2)
                )
            )
            if len(hits) >= MAX_HITS:
                return hits
    return hits


TEXT_SUFFIXES = (
    ".json",
    ".xml",
    ".properties",
    ".txt",
    ".js",
    ".html",
    ".htm",
    ".cfg",
    ".conf",
    ".ini",
    ".yml",
    ".yaml",
    ".pem",
    ".key",
    ".plist",
    ".strings",
    ".env",
    ".config",
)


def is_text_member(name: str) -> bool:
    """Members worth scanning as text (configuration, keys, web assets, plists)."""
    low = name.lower()
    return low.endswith(TEXT_SUFFIXES) or "/raw/" in low or "rawfile/" in low


def rule(rule_id: str) -> SecretRule:
    """The rule with this id."""
    return _BY_ID[rule_id]
