"""Demo data for `mingyue demo`: ent2 sends customer data to a partner in Singapore.

One assessment (150,000 individuals → standard contract), the standard-contract filing as a case
waiting for the regulator, the declared transfer, and a small generated forward-proxy log read by
the flow monitor: requests to the declared endpoint carry mobile numbers (distinct individuals are
counted), and a few go to an overseas address that was never declared (an alert case). Everything is made
up here (no real person's data); the log lives in the data dir.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from mingyue.sdk import SYSTEM, Settings, actor_of_user, unit_of_work

from . import service
from .models import CrossborderAssessment
from .schemas import FilingForm, FilingIn, Recipient, TransferIn

DECLARED = "api.partner-sg.example"
# A public address in a block registered in the US (an AWS us-east range); the demo passes its own
# operator table (network,country CSV, the format an operator maintains) so the demo does not
# depend on Debian's geoip-database being installed.
UNDECLARED = "52.6.18.40"
DEMO_GEO = "network,country\n52.0.0.0/11,US\n"


def _log(path: Path, rng: random.Random) -> None:
    """Write an NCSA combined forward-proxy log (absolute URLs, as squid/nginx write them)."""
    t0 = datetime(2026, 3, 10, 9, 0, 0, tzinfo=timezone(timedelta(hours=8)))  # a proxy in China
    lines = []
    for i in range(400):
        ts = (t0 + timedelta(seconds=7 * i)).strftime("%d/%b/%Y:%H:%M:%S %z")
        mobile = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
        host = UNDECLARED if i % 50 == 7 else DECLARED
        lines.append(
            f'10.20.0.{i % 30 + 2} - - [{ts}] "GET http://{host}/v1/orders?mobile={mobile}'
            f'&n={i} HTTP/1.1" 200 {rng.randrange(200, 4000)} "-" "okhttp/4.12.0"'
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def seed(settings: Settings, org_ids: dict[str, int]) -> None:
    """Create the demo once (idempotent)."""
    with unit_of_work(SYSTEM, settings) as uow:
        if uow.session.scalars(select(CrossborderAssessment.id).limit(1)).first() is not None:
            return
        actor = actor_of_user(uow=uow, username="ent2_admin")
    if actor is None:
        return
    scenario = {
        "ciio": False,
        "important_data": False,
        "pi_individuals": 150_000,
        "sensitive_pi_individuals": 0,
        "purpose": "other",
        "ftz_negative_list": None,
    }
    with unit_of_work(actor, settings) as uow:
        assessment = service.create_assessment(uow=uow, actor=actor, scenario=scenario)
        form = FilingForm(
            recipient=Recipient(
                name="Partner SG Pte. Ltd.",
                country="SG",
                address="1 Demo Road, Singapore",
                contact="privacy@partner-sg.example",
            ),
            purpose="跨境电商订单履约：向新加坡合作方提供收件人姓名、手机号和收货地址，用于配送与售后。",
            categories=["姓名", "手机号码", "收货地址"],
            pi_individuals=150_000,
            sensitive_pi_individuals=0,
            retention="订单完成后保存 1 年，到期删除并出具删除证明。",
            security_measures="TLS 1.3 传输加密；接收方按最小必要原则访问；日志留存 3 年；年度第三方审计。",
            recipient_legal_environment="新加坡《个人数据保护法》(PDPA 2012) 及其 2020 年修正。",
            risks_and_mitigations="主要风险为接收方再转移与泄露；合同约定禁止再转移，设泄露通知与赔偿条款。",
            contact_person="数据保护负责人 王经理",
        )
        filing = service.create_filing(
            uow=uow,
            actor=actor,
            body=FilingIn(kind="standard_contract", form=form, assessment_id=assessment.id),
        )
        service.declare_transfer(
            uow=uow,
            actor=actor,
            body=TransferIn(
                recipient="Partner SG Pte. Ltd.",
                country="SG",
                endpoints=[DECLARED],
                categories=["姓名", "手机号码", "收货地址"],
                legal_basis="standard_contract_or_certification",
                filing_id=filing.id,
            ),
        )
    log = Path(settings.data_dir) / "crossborder" / "demo-proxy.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    _log(log, random.Random(20260310))  # noqa: S311 -- made-up demo data, not a secret
    geo = log.parent / "demo-geo.csv"
    geo.write_text(DEMO_GEO, encoding="utf-8")
    with unit_of_work(actor, settings) as uow:
        service.watch_source(uow=uow, actor=actor, source=log, geoip=geo)
