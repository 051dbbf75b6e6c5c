"""Demo data for `mingyue demo`: the embedded SmolLM2 model's card, registered by the operator
and shared with the district (no server is started: `scripts/modeleval-setup.sh` installs it,
and a trial chat answers "cannot reach the endpoint" until one listens on port 8080)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from mingyue.sdk import SYSTEM, Settings, actor_of_user, unit_of_work
from mingyue.sdk.errors import InvalidInput

from .models import ModelevalModel
from .schemas import ModelIn
from .service import register_model

DEMO_MODEL = ModelIn(
    name="SmolLM2-local",
    version="135M-Instruct-Q8_0",
    provider="Hugging Face (SmolLM2), served by llama.cpp on this platform",
    licence="Apache-2.0",
    intended_use="平台内置的小模型：演示评测流程、试用对话和反馈；不用于生产问答。",
    limitations="135M 参数的英文为主小模型：中文能力和知识有限，会编造事实，不具备安全对齐。",
    endpoint="http://127.0.0.1:8080/v1",
    served_model="smollm2",
    price_1k=Decimal("0"),
    visibility="district",
)


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Register the SmolLM2-local card for the operator, once (idempotent)."""
    if "op" not in org_ids:
        return
    with unit_of_work(SYSTEM, settings) as uow:
        if uow.session.scalars(select(ModelevalModel.id).limit(1)).first() is not None:
            return
        op_admin = actor_of_user(uow=uow, username="op_admin")
    if op_admin is None:
        return
    try:
        with unit_of_work(op_admin, settings) as uow:
            register_model(uow=uow, actor=op_admin, data=DEMO_MODEL)
    except InvalidInput:
        pass  # loopback endpoints are refused in prod: the demo has no card there
