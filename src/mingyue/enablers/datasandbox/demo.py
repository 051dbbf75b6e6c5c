"""Demo data for `mingyue demo`: the enterprise register and tax/credit table (ent1) and the
diabetes study fused on employer USCCs (ent2), each under a standing policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def seed(settings: Any, org_ids: dict[str, int]) -> None:
    """Register the demo datasets once (idempotent)."""
    from sqlalchemy import select

    from mingyue.core.db import system_session
    from mingyue.core.tenancy.identity import User, actor_for
    from mingyue.core.uow import unit_of_work

    from . import service
    from .engine import demo
    from .models import SandboxDataset

    with system_session(settings, "datasandbox demo: existing datasets") as s:
        if s.scalars(select(SandboxDataset.id).limit(1)).first() is not None:
            return
        actors = {}
        for key in ("ent1", "ent2"):
            user = s.scalars(select(User).where(User.username == f"{key}_admin")).first()
            if user is None or key not in org_ids:
                return
            actors[key] = actor_for(user)
    files = demo.generate(Path(settings.data_dir) / "datasandbox" / "demo-src", n_enterprises=600)
    plan = [
        ("ent1", files.enterprises, "enterprises", 3.0),
        ("ent1", files.tax_credit, "tax_credit", 3.0),
        ("ent2", files.patients, "patients", 6.0),
    ]
    for key, path, name, eps in plan:
        spec = files.specs[name]
        with unit_of_work(actors[key], settings) as uow:
            service.register_dataset(
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
                description={
                    "enterprises": "两江新区企业登记（演示生成）",
                    "tax_credit": "纳税信用等级与纳税额（演示生成）",
                    "patients": "糖尿病研究数据（scikit-learn 内置真实数据集）",
                }[name],
            )
