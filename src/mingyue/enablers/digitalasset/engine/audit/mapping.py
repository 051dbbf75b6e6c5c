"""Slither detectors → DASP 10 categories and SWC ids; noise filter; severity and rank.

DASP (NCC Group's Decentralized Application Security Project top 10) is the taxonomy SmartBugs
labels with; SWC ids come from the SWC registry (swcregistry.io). Raw Slither output is dominated
by naming-convention, solc-version, pragma and other informational checks: those are dropped
(``NOISE``), as is any detector of Informational/Optimization impact that maps to no category.
"""

from __future__ import annotations

from typing import Final

CATEGORIES: Final = (
    "reentrancy",
    "access_control",
    "arithmetic",
    "unchecked_low_level_calls",
    "denial_of_service",
    "bad_randomness",
    "front_running",
    "time_manipulation",
    "short_addresses",
    "other",
)
SEVERITIES: Final = ("info", "low", "medium", "high")

# detector -> (DASP category, SWC id or "")
SLITHER_MAP: Final[dict[str, tuple[str, str]]] = {
    "reentrancy-eth": ("reentrancy", "SWC-107"),
    "reentrancy-no-eth": ("reentrancy", "SWC-107"),
    "reentrancy-balance": ("reentrancy", "SWC-107"),
    "suicidal": ("access_control", "SWC-106"),
    "arbitrary-send-eth": ("access_control", "SWC-105"),
    "arbitrary-send-erc20": ("access_control", "SWC-105"),
    "arbitrary-send-erc20-permit": ("access_control", "SWC-105"),
    "controlled-delegatecall": ("access_control", "SWC-112"),
    "delegatecall-loop": ("access_control", "SWC-112"),
    "tx-origin": ("access_control", "SWC-115"),
    "unprotected-upgrade": ("access_control", "SWC-106"),
    "controlled-array-length": ("access_control", "SWC-124"),
    "protected-vars": ("access_control", "SWC-105"),
    "multiple-constructors": ("access_control", "SWC-118"),
    "reused-constructor": ("access_control", "SWC-118"),
    "incorrect-modifier": ("access_control", "SWC-105"),
    "unchecked-lowlevel": ("unchecked_low_level_calls", "SWC-104"),
    "unchecked-send": ("unchecked_low_level_calls", "SWC-104"),
    "unchecked-transfer": ("unchecked_low_level_calls", "SWC-104"),
    "calls-loop": ("denial_of_service", "SWC-113"),
    "msg-value-loop": ("denial_of_service", "SWC-113"),
    "return-bomb": ("denial_of_service", "SWC-113"),
    "incorrect-equality": ("denial_of_service", "SWC-132"),
    "weak-prng": ("bad_randomness", "SWC-120"),
    "gelato-unprotected-randomness": ("bad_randomness", "SWC-120"),
    "incorrect-exp": ("arithmetic", "SWC-101"),
    "divide-before-multiply": ("arithmetic", "SWC-101"),
    "uninitialized-storage": ("other", "SWC-109"),
    "uninitialized-state": ("other", "SWC-109"),
    "uninitialized-local": ("other", "SWC-109"),
    "shadowing-state": ("other", "SWC-119"),
    "shadowing-abstract": ("other", "SWC-119"),
    "rtlo": ("other", "SWC-130"),
    "encode-packed-collision": ("other", "SWC-133"),
    "locked-ether": ("other", ""),
    "tautology": ("other", "SWC-123"),
    "tautological-compare": ("other", "SWC-123"),
    "incorrect-shift": ("other", ""),
    "array-by-reference": ("other", ""),
    "storage-array": ("other", ""),
    "abiencoderv2-array": ("other", ""),
    "incorrect-return": ("other", ""),
    "return-leave": ("other", ""),
    "write-after-write": ("other", ""),
    "boolean-cst": ("other", ""),
    "enum-conversion": ("other", ""),
    "mapping-deletion": ("other", ""),
    "msg-value-in-nonpayable": ("other", ""),
    "name-reused": ("other", ""),
    "public-mappings-nested": ("other", ""),
    "domain-separator-collision": ("other", ""),
    "unused-return": ("unchecked_low_level_calls", "SWC-104"),
    "incorrect-unary": ("other", "SWC-129"),
}

# Checks that are style, compiler-version or gas advice, or whose hit is not a vulnerability:
# they stay in the raw output for whoever wants it, never in the ranked findings.
NOISE: Final = frozenset(
    {
        "naming-convention",
        "solc-version",
        "pragma",
        "deprecated-standards",
        "external-function",
        "constable-states",
        "immutable-states",
        "cache-array-length",
        "var-read-using-this",
        "assembly",
        "low-level-calls",
        "similar-names",
        "too-many-digits",
        "dead-code",
        "unused-state",
        "cyclomatic-complexity",
        "missing-inheritance",
        "unimplemented-functions",
        "erc20-indexed",
        "unindexed-event-address",
        "redundant-statements",
        "boolean-equal",
        "function-init-state",
        "assert-state-change",
        "incorrect-using-for",
        "reentrancy-unlimited-gas",  # transfer/send forward 2300 gas: not exploitable by design
        "reentrancy-events",  # only an event's order changes
        "reentrancy-benign",  # Slither's own verdict: no loss of funds or state
        # Any comparison with block.timestamp. Deadlines measured in minutes or more are safe
        # (SWC-116, the 15-second rule); our rules report the risky uses instead: timestamps as
        # randomness, in equality checks, returned to callers, or stored for later comparisons.
        "timestamp",
        "events-maths",
        "events-access",
        "missing-zero-check",
        "shadowing-builtin",
        "shadowing-local",
        "variable-scope",
        "void-cst",
        "uninitialized-fptr-cst",
        "costly-loop",
        "erc20-interface",
        "erc721-interface",
        "constant-function-asm",
        "constant-function-state",
    }
)

# What the raw (Slither alone) column calls the checks we drop from the ranked output.
RAW_MAP: Final[dict[str, tuple[str, str]]] = {
    **SLITHER_MAP,
    "timestamp": ("time_manipulation", "SWC-116"),
    "reentrancy-benign": ("reentrancy", "SWC-107"),
    "reentrancy-events": ("reentrancy", "SWC-107"),
    "reentrancy-unlimited-gas": ("reentrancy", "SWC-107"),
    "costly-loop": ("denial_of_service", "SWC-128"),
    "low-level-calls": ("unchecked_low_level_calls", "SWC-104"),
}

_IMPACT = {
    "High": "high",
    "Medium": "medium",
    "Low": "low",
    "Informational": "info",
    "Optimization": "info",
}


def classify(check: str, impact: str) -> tuple[str, str, str] | None:
    """Return (category, swc, severity) for a Slither check, or None when it is noise."""
    if check in NOISE:
        return None
    mapped = SLITHER_MAP.get(check)
    severity = _IMPACT.get(impact, "low")
    if mapped is None:
        if severity == "info":
            return None
        return "other", "", severity
    return mapped[0], mapped[1], severity


def classify_raw(check: str, impact: str) -> tuple[str, str, str]:
    """Slither alone: every check kept, mapped where it has a category, else 'other'."""
    cat, swc = RAW_MAP.get(check, ("other", ""))
    return cat, swc, _IMPACT.get(impact, "low")


def rank_key(severity: str, confidence: str, line: int) -> tuple[int, int, int]:
    """Sort key: severity, then confidence, then line."""
    conf = {"High": 0, "Medium": 1, "Low": 2}.get(confidence, 1)
    return (-SEVERITIES.index(severity) if severity in SEVERITIES else 0, conf, line)
