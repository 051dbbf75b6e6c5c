"""Demo data for `mingyue demo`: the enterprise register and tax/credit table (ent1) and the
diabetes study fused on employer USCCs (ent2), each under a standing policy."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from mingyue.sdk import SYSTEM, Actor, Settings, actor_of_user, unit_of_work

from .catalogue import register_dataset
from .engine import demo
from .models import SandboxDataset

_DESCRIPTIONS = {
    "enterprises": "两江新区企业登记（演示生成）",
    "tax_credit": "纳税信用等级与纳税额（演示生成）",
    "patients": "糖尿病研究数据（scikit-learn 内置真实数据集）",
}


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Register the demo datasets once (idempotent)."""
    with unit_of_work(SYSTEM, settings) as uow:
        if uow.session.scalars(select(SandboxDataset.id).limit(1)).first() is not None:
            return
        actors: dict[str, Actor] = {}
        for key in ("ent1", "ent2"):
            actor = actor_of_user(uow=uow, username=f"{key}_admin")
            if actor is None or key not in org_ids:
                return
            actors[key] = actor
    files = demo.generate(Path(settings.data_dir) / "datasandbox" / "demo-src", n_enterprises=600)
    plan = [
        ("ent1", files.enterprises, "enterprises", 3.0),
        ("ent1", files.tax_credit, "tax_credit", 3.0),
        ("ent2", files.patients, "patients", 6.0),
    ]
    for key, path, name, eps in plan:
        spec = files.specs[name]
        with unit_of_work(actors[key], settings) as uow:
            register_dataset(
                uow=uow,
                actor=actors[key],
                source=path,
                name=name,
                identifiers=spec.identifiers,
                quasi=spec.quasi,
                sensitive=spec.sensitive,
                min_group=10,
                epsilon_per_period=eps,
                open_to_all=True,
                bounds=spec.bounds,
                description=_DESCRIPTIONS[name],
            )
