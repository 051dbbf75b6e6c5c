"""The circulation rule pack (``rules/circulation.yaml``) and the checks that apply it.

Each rule names one check below; a check reads plain facts of an issuance or a transfer and
says whether the rule is broken and why. Rules are data: their ids, titles, citations and
parameters come from the YAML (2022 NFT Initiative, six points, plus the sandbox's holding
period), so a refusal always carries the rule's id and its source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml

from mingyue.sdk.errors import InvalidInput

RULES_FILE = Path(__file__).resolve().parent.parent / "rules" / "circulation.yaml"
Stage = Literal["issue", "transfer"]


@dataclass(frozen=True)
class Rule:
    """One rule of the pack."""

    id: str
    check: str
    applies: tuple[str, ...]
    title: dict[str, str]
    citation: dict[str, str]
    params: dict[str, Any]


@dataclass(frozen=True)
class RulePack:
    """The loaded pack: its version, source and rules in order."""

    version: str
    source: dict[str, Any]
    rules: tuple[Rule, ...]

    def get(self, rule_id: str) -> Rule:
        """Return a rule by id (KeyError when absent)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


@dataclass(frozen=True)
class Facts:
    """What the checks read about one issuance or transfer (plain values)."""

    stage: Stage
    work_kind: str = "image"
    work_status: str = "approved"
    standard: str = "erc721"  # erc721 | erc1155
    quantity: Decimal = Decimal(1)
    edition_cap: int = 1
    mode: str = "gift"  # gift | sale | auction | order_book | ...
    purpose: str = "collect"
    price: Decimal | None = None
    currency: str | None = None
    # KYC levels of the parties: None = no valid real-name credential.
    issuer_kyc: int | None = None
    seller_kyc: int | None = None
    buyer_kyc: int | None = None
    acquired_at: datetime | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class Breach:
    """A rule a request breaks, with why (English; the page shows the rule's title)."""

    rule: Rule
    detail: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, lang: str = "zh") -> dict[str, Any]:
        """Return the breach as plain data for a refusal document."""
        return {
            "rule": self.rule.id,
            "title": self.rule.title.get(lang) or self.rule.title["en"],
            "citation": self.rule.citation.get(lang) or self.rule.citation["en"],
            "detail": self.detail,
            "params": self.params,
        }


Check = Callable[[Rule, Facts, Mapping[str, Any]], Breach | None]


def _underlying(rule: Rule, f: Facts, o: Mapping[str, Any]) -> Breach | None:
    """Initiative point 1: the underlying is an approved work, never a financial asset."""
    if f.work_kind in rule.params.get("financial_kinds", []):
        return Breach(
            rule, f"the underlying is a financial asset ({f.work_kind})", {"kind": f.work_kind}
        )
    if f.work_status != "approved":
        return Breach(
            rule, f"the work is not approved (status {f.work_status})", {"status": f.work_status}
        )
    return None


def _no_fractionalisation(rule: Rule, f: Facts, o: Mapping[str, Any]) -> Breach | None:
    """Initiative point 2: whole units only; editions within the cap; ERC-721 moves one."""
    if f.quantity != f.quantity.to_integral_value() or f.quantity < 1:
        return Breach(
            rule, f"quantity {f.quantity} is not a whole unit", {"quantity": str(f.quantity)}
        )
    if f.standard == "erc721" and f.quantity != 1:
        return Breach(rule, "an ERC-721 collectible moves as one whole token", {})
    limit = int(o.get("max_edition", rule.params.get("max_edition", 10000)))
    if f.stage == "issue" and f.edition_cap > limit:
        return Breach(
            rule,
            f"edition cap {f.edition_cap} exceeds {limit}",
            {"cap": f.edition_cap, "max": limit},
        )
    return None


def _no_centralised_trading(rule: Rule, f: Facts, o: Mapping[str, Any]) -> Breach | None:
    """Initiative point 3: one-to-one gifts and sales only."""
    allowed = list(rule.params.get("allowed_modes", ["gift", "sale"]))
    if f.mode not in allowed:
        return Breach(rule, f"mode {f.mode} is centralised trading", {"mode": f.mode})
    return None


def _cny_only(rule: Rule, f: Facts, o: Mapping[str, Any]) -> Breach | None:
    """Initiative point 4: priced and settled in CNY."""
    if f.mode == "gift" and f.price is None and f.currency is None:
        return None
    want = str(rule.params.get("currency", "CNY"))
    cur = (f.currency or "").upper()
    if cur != want:
        return Breach(
            rule, f"priced in {f.currency or 'nothing'}, not {want}", {"currency": f.currency}
        )
    if f.price is None or f.price < 0 or f.price != f.price.quantize(Decimal("0.01")):
        return Breach(rule, "a CNY price is a non-negative amount in fen", {"price": str(f.price)})
    return None


def _real_name(rule: Rule, f: Facts, o: Mapping[str, Any]) -> Breach | None:
    """Initiative point 5: issuer, seller and buyer are real-name verified."""
    need = int(o.get("min_kyc_level", rule.params.get("min_kyc_level", 2)))
    parties = (
        [("issuer", f.issuer_kyc)]
        if f.stage == "issue"
        else [("seller", f.seller_kyc), ("buyer", f.buyer_kyc)]
    )
    for party, level in parties:
        if level is None or level < need:
            return Breach(
                rule,
                f"the {party} has no real-name verification of level {need}",
                {"party": party, "level": level, "required": need},
            )
    return None


def _no_financing(rule: Rule, f: Facts, o: Mapping[str, Any]) -> Breach | None:
    """Initiative point 6: no financing of, or investment in, collectibles."""
    if f.purpose in rule.params.get("refused_purposes", []):
        return Breach(rule, f"purpose {f.purpose} is financing", {"purpose": f.purpose})
    return None


def _holding_period(rule: Rule, f: Facts, o: Mapping[str, Any]) -> Breach | None:
    """Sandbox rule: the holder keeps a collectible for ``days`` before transferring it."""
    days = int(o.get("holding_days", rule.params.get("days", 180)))
    if days <= 0 or f.acquired_at is None or f.at is None:
        return None
    until = f.acquired_at + timedelta(days=days)
    if f.at < until:
        return Breach(
            rule,
            f"held since {f.acquired_at:%Y-%m-%d}; transferable from {until:%Y-%m-%d}",
            {"days": days, "until": until.isoformat()},
        )
    return None


CHECKS: dict[str, Check] = {
    "underlying": _underlying,
    "no_fractionalisation": _no_fractionalisation,
    "no_centralised_trading": _no_centralised_trading,
    "cny_only": _cny_only,
    "real_name": _real_name,
    "no_financing": _no_financing,
    "holding_period": _holding_period,
}


def parse_pack(doc: Mapping[str, Any]) -> RulePack:
    """Validate a rule pack document (InvalidInput naming the first problem)."""
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(doc.get("rules") or []):
        try:
            rule = Rule(
                id=str(raw["id"]),
                check=str(raw["check"]),
                applies=tuple(str(a) for a in raw["applies"]),
                title={k: str(v) for k, v in raw["title"].items()},
                citation={k: str(v) for k, v in raw["citation"].items()},
                params=dict(raw.get("params") or {}),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                "digitalasset.rules.bad_pack", f"rule {i + 1}: missing {exc}"
            ) from exc
        if rule.check not in CHECKS:
            raise InvalidInput(
                "digitalasset.rules.bad_pack", f"rule {rule.id}: no check {rule.check}"
            )
        if rule.id in seen or not {"zh", "en"} <= rule.citation.keys() & rule.title.keys():
            raise InvalidInput(
                "digitalasset.rules.bad_pack", f"rule {rule.id}: duplicate or lacks zh/en text"
            )
        seen.add(rule.id)
        rules.append(rule)
    if not rules:
        raise InvalidInput("digitalasset.rules.bad_pack", "the pack has no rules")
    return RulePack(
        version=str(doc.get("version", "")),
        source=dict(doc.get("source") or {}),
        rules=tuple(rules),
    )


@cache
def load_pack(path: Path = RULES_FILE) -> RulePack:
    """Load the shipped rule pack."""
    return parse_pack(yaml.safe_load(path.read_text(encoding="utf-8")))


def evaluate(
    facts: Facts, *, pack: RulePack | None = None, options: Mapping[str, Any] | None = None
) -> list[Breach]:
    """Return every rule of the pack the facts break, in the pack's order.

    ``options`` override parameters from settings: ``holding_days``, ``min_kyc_level``,
    ``max_edition``.
    """
    pack = pack or load_pack()
    opts = dict(options or {})
    out: list[Breach] = []
    for rule in pack.rules:
        if facts.stage in rule.applies:
            breach = CHECKS[rule.check](rule, facts, opts)
            if breach is not None:
                out.append(breach)
    return out


def rule_ids(pack: RulePack | None = None) -> Sequence[str]:
    """Return the ids of the pack's rules."""
    return [r.id for r in (pack or load_pack()).rules]
