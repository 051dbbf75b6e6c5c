"""What the policy services share: the rules files (loaded once), permissions, names.

The rules are data shipped in ``rules/``: the measures' eligibility (``measures.yaml``), the
departments (``departments.yaml``) and their duties, the dispatch examples, the indicator
definitions (``indicators.yaml``). Each is loaded once per process and carries its version
(a SHA-256 of the file).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from mingyue.enablers.policy.engine.eligibility import Match, Rulebook, load_rulebook
from mingyue.enablers.policy.engine.indicators import Catalogue, load_catalogue
from mingyue.sdk import UnitOfWork, organization

RULES = Path(__file__).resolve().parent.parent / "rules"

READ = "policy.read"
PROFILE_MANAGE = "policy.profile.manage"
CAMPAIGN_RUN = "policy.campaign.run"
REQUEST_SUBMIT = "policy.request.submit"
REQUEST_DISPATCH = "policy.request.dispatch"
INDICATOR_MANAGE = "policy.indicator.manage"


@lru_cache(maxsize=1)
def rulebook() -> Rulebook:
    """Return the measures and their eligibility rules (``rules/measures.yaml``)."""
    return load_rulebook(RULES / "measures.yaml")


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """Return the indicator definitions (``rules/indicators.yaml``)."""
    return load_catalogue(RULES / "indicators.yaml")


@lru_cache(maxsize=1)
def departments() -> dict[str, dict[str, str]]:
    """Return department code -> {zh, en} titles (``rules/departments.yaml``)."""
    doc = yaml.safe_load((RULES / "departments.yaml").read_text(encoding="utf-8"))
    return {str(k): {"zh": v["zh"], "en": v["en"]} for k, v in doc["departments"].items()}


def file_digest(name: str) -> str:
    """Return the SHA-256 of a rules file."""
    return hashlib.sha256((RULES / name).read_bytes()).hexdigest()


def org_name(uow: UnitOfWork, organization_id: int) -> str:
    """Return an organization's name as the reader may see it ("#id" when out of reach)."""
    org = organization(uow=uow, organization_id=organization_id)
    return org.name if org is not None else f"#{organization_id}"


def reasons_of(m: Match) -> list[dict[str, Any]]:
    """Return a match's checks as stored with a push or a benefit (JSON)."""
    return [
        {
            "id": c.id,
            "status": c.status,
            "label": c.label,
            "actual": c.actual,
            "values": [list(v) for v in c.values],
        }
        for c in m.checks
    ]
