"""Demo data for `mingyue demo`: the sandbox with works, a collection, a sale and a refusal.

The SME (ent1) registers two works — one approved and certified by the operator's reviewer
(op_member), one waiting for review — deploys an ERC-721 collection and issues the approved work.
ent2's member opens a custody account, is real-name verified, and buys the collectible for
CNY 99.00 through the platform; a second offer priced in USDT is refused by rule CN-NFT-2022-4
and stays on record. An evidence package of the certified work is built and anchored, and the
audit ledger's head is anchored. Everything runs through the services on the embedded chain.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from mingyue.enablers.digitalasset import service
from mingyue.enablers.digitalasset.models_registry import DigitalassetWork
from mingyue.enablers.digitalasset.schemas import TransferIn
from mingyue.enablers.digitalasset.service.evidence import anchor_ledger
from mingyue.sdk import SYSTEM, Actor, Settings, actor_of_user, unit_of_work
from mingyue.sdk.errors import RecordedRefusal

# Made-up works: the bytes stand for an image file; nothing here is a real artwork.
WORKS = (
    ("两江夜色·明月湖", "渝州画院 张青", b"demo-artwork:liangjiang-night:" + bytes(range(256)) * 8),
    ("缙云山晨雾", "渝州画院 李岚", b"demo-artwork:jinyun-mist:" + bytes(range(255, -1, -1)) * 8),
)
RIGHTS = (
    "著作权归重庆明月文创有限公司（演示）所有；授权本平台以数字藏品形式展示与发行，"
    "持有人享有欣赏与收藏权，不含复制、改编及商业使用权。"
)


def _actor(settings: Settings, username: str) -> Actor | None:
    with unit_of_work(SYSTEM, settings) as uow:
        return actor_of_user(uow=uow, username=username)


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Create the demo once (idempotent)."""
    with unit_of_work(SYSTEM, settings) as uow:
        if uow.session.scalars(select(DigitalassetWork.id).limit(1)).first() is not None:
            return
    issuer = _actor(settings, "ent1_admin")
    reviewer = _actor(settings, "op_member")
    buyer = _actor(settings, "ent2_member")
    if issuer is None or reviewer is None or buyer is None:
        return
    work_ids: list[int] = []
    for title, creator, data in WORKS:
        with unit_of_work(issuer, settings) as uow:
            work = service.register_work(
                uow=uow,
                actor=issuer,
                upload=data,
                filename=f"{title}.png",
                title=title,
                kind="image",
                creator_name=creator,
                rights_statement=RIGHTS,
            )
            work_ids.append(work.id)
    for step in ("review", "approve"):
        with unit_of_work(reviewer, settings) as uow:
            service.decide(uow=uow, actor=reviewer, work_id=work_ids[0], action=step)
    with unit_of_work(issuer, settings) as uow:
        collection = service.create_collection(
            uow=uow,
            actor=issuer,
            standard="erc721",
            name="两江明月数字藏品",
            symbol="LJMY",
            cap=100,
        )
    with unit_of_work(issuer, settings) as uow:
        token = service.issue_token(
            uow=uow,
            actor=issuer,
            collection_id=collection.id,
            work_id=work_ids[0],
            price_cny=Decimal("99.00"),
        )
    with unit_of_work(buyer, settings) as uow:
        account = service.open_account(uow=uow, actor=buyer)
    with unit_of_work(reviewer, settings) as uow:
        service.verify_kyc(
            uow=uow, actor=reviewer, account_id=account.id, real_name="王小明", level=2
        )
    offer = TransferIn(
        token=token.id,
        to_address=account.address,
        mode="sale",
        price=Decimal("99.00"),
        currency="USDT",
        from_issuer=True,
    )
    try:
        with unit_of_work(issuer, settings) as uow:
            service.transfer(uow=uow, actor=issuer, body=offer)
    except RecordedRefusal:
        pass  # the refusal by CN-NFT-2022-4 is the point: it stays on record
    with unit_of_work(issuer, settings) as uow:
        service.transfer(uow=uow, actor=issuer, body=offer.model_copy(update={"currency": "CNY"}))
    with unit_of_work(issuer, settings) as uow:
        service.build_package(uow=uow, actor=issuer, work_id=work_ids[0])
    with unit_of_work(SYSTEM, settings) as uow:
        anchor_ledger(uow)
