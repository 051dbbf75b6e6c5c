"""Helpers of the policy-service tests: profiles, the policy desk's actor, demo statistics."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from mingyue.enablers.policy.schemas_service import ProfileIn
from mingyue.enablers.policy.service import profiles
from mingyue.sdk import Actor, unit_of_work

DATA = Path(__file__).resolve().parents[3] / "src" / "mingyue" / "enablers" / "policy" / "data"


def ai_sme(**changes: Any) -> ProfileIn:
    """Return the profile of an AI software SME at Mingyue Lake (changes applied)."""
    base: dict[str, Any] = {
        "industry_code": "I6513",
        "district": "两江新区",
        "park": "明月湖",
        "qualifications": ["hnte"],
        "sectors": ["ai"],
        "listing": "none",
        "headcount": 45,
        "revenue": Decimal("3000"),
        "rd_spend": Decimal("400"),
        "established": date(2021, 5, 1),
    }
    base.update(changes)
    return ProfileIn(**base)


def save_profile(settings: Any, actor: Actor, body: ProfileIn) -> None:
    """Save an enterprise's own profile as that enterprise."""
    with unit_of_work(actor, settings) as uow:
        profiles.update_profile(uow=uow, actor=actor, body=body)
