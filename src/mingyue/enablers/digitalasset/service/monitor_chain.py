"""Scheduled pull of chain events into the monitor (``digitalasset.monitor_chain``).

Each collection keeps a cursor (the last block read). A pull reads the Transfer events after it,
stores them as sales (with the price the platform recorded for that transaction, if any), then
runs the detectors over the new events *and* the ones of the last window before them, so a loop
whose first leg came in an earlier pull is still found. Only alerts that cover a new event are
stored; an alert found again counts an occurrence (fingerprint). A second run with nothing new
changes nothing.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import select

from mingyue.enablers.digitalasset.adapters.chain import Chain, ChainEvent
from mingyue.enablers.digitalasset.engine.contracts import COLLECTION, EDITIONS, load_artifact
from mingyue.enablers.digitalasset.engine.monitor import MonitorConfig, detect, from_records
from mingyue.enablers.digitalasset.models_monitor import (
    DigitalassetChainCursor,
    DigitalassetChainEvent,
    DigitalassetMonitorRun,
)
from mingyue.enablers.digitalasset.models_registry import (
    DigitalassetCollection,
    DigitalassetTransfer,
)
from mingyue.enablers.digitalasset.service.common import chain_for
from mingyue.enablers.digitalasset.service.monitor import finish_run, label_store, suppressed_keys
from mingyue.sdk import JobContext, UnitOfWork, now

ZERO: Final = "0x0000000000000000000000000000000000000000"
REASON: Final = "digitalasset: scheduled pull of chain events into the wash-trade monitor"
PULLED_BY: Final = "scheduler"


def _sales(chain: Chain, collection: DigitalassetCollection, start: int, head: int) -> list[Any]:
    """Transfers between holders (mints and burns are not trades) in blocks start..head."""
    if collection.standard == "erc721":
        events = chain.events(
            collection.address,
            load_artifact(COLLECTION),
            "Transfer",
            from_block=start,
            to_block=head,
        )
        id_arg = "tokenId"
    else:
        events = chain.events(
            collection.address,
            load_artifact(EDITIONS),
            "TransferSingle",
            from_block=start,
            to_block=head,
        )
        id_arg = "id"
    out: list[tuple[ChainEvent, str, str, str]] = []
    for e in events:
        src, dst = str(e.args["from"]), str(e.args["to"])
        if src.lower() == ZERO or dst.lower() == ZERO:
            continue
        out.append((e, str(e.args[id_arg]), src.lower(), dst.lower()))
    return out


def _prices(uow: UnitOfWork, hashes: list[str]) -> dict[str, float]:
    """CNY prices the platform recorded for these transactions (a gift has none)."""
    if not hashes:
        return {}
    rows = uow.session.execute(
        select(DigitalassetTransfer.tx_hash, DigitalassetTransfer.price).where(
            DigitalassetTransfer.tx_hash.in_(hashes),
            DigitalassetTransfer.status == "done",
            DigitalassetTransfer.currency == "CNY",
        )
    )
    return {
        str(h).lower(): float(p) for h, p in rows if h is not None and isinstance(p, Decimal | int)
    }


def pull_collection(
    uow: UnitOfWork,
    chain: Chain,
    collection: DigitalassetCollection,
    cfg: MonitorConfig | None = None,
) -> dict[str, int]:
    """Read a collection's new events since its cursor, detect over the window, store alerts."""
    cfg = cfg or MonitorConfig()
    cursor = uow.session.scalars(
        select(DigitalassetChainCursor).where(
            DigitalassetChainCursor.chain_id == chain.chain_id,
            DigitalassetChainCursor.address == collection.address,
        )
    ).first()
    if cursor is None:
        cursor = DigitalassetChainCursor(
            organization_id=collection.organization_id,
            chain_id=chain.chain_id,
            address=collection.address,
            last_block=-1,
            events=0,
        )
        uow.session.add(cursor)
    start, head = cursor.last_block + 1, chain.block_number()
    if start > head:
        return {"events": 0, "alerts_new": 0, "alerts_seen": 0}
    found = _sales(chain, collection, start, head)
    known = {
        (h, i)
        for h, i in uow.session.execute(
            select(DigitalassetChainEvent.tx_hash, DigitalassetChainEvent.log_index).where(
                DigitalassetChainEvent.chain_id == chain.chain_id,
                DigitalassetChainEvent.tx_hash.in_([e.tx_hash for e, *_ in found] or [""]),
            )
        )
    }
    prices = _prices(uow, [e.tx_hash for e, *_ in found])
    times: dict[int, datetime] = {}
    new: list[DigitalassetChainEvent] = []
    for e, token, seller, buyer in found:
        if (e.tx_hash, e.log_index) in known:
            continue
        if e.block_number not in times:
            times[e.block_number] = chain.block_time(e.block_number)
        new.append(
            DigitalassetChainEvent(
                organization_id=collection.organization_id,
                chain_id=chain.chain_id,
                collection=collection.address,
                token_id=token,
                seller=seller,
                buyer=buyer,
                price_cny=prices.get(e.tx_hash.lower()),
                ts=times[e.block_number].timestamp(),
                block_number=e.block_number,
                tx_hash=e.tx_hash,
                log_index=e.log_index,
            )
        )
    uow.session.add_all(new)
    cursor.last_block = head
    cursor.events += len(new)
    cursor.updated_at = now()
    uow.session.flush()
    if not new:
        return {"events": 0, "alerts_new": 0, "alerts_seen": 0}
    return _detect_window(uow, collection, new, cfg)


def _detect_window(
    uow: UnitOfWork,
    collection: DigitalassetCollection,
    new: list[DigitalassetChainEvent],
    cfg: MonitorConfig,
) -> dict[str, int]:
    since = min(e.ts for e in new) - cfg.window_s
    window = list(
        uow.session.scalars(
            select(DigitalassetChainEvent)
            .where(
                DigitalassetChainEvent.organization_id == collection.organization_id,
                DigitalassetChainEvent.collection == collection.address,
                DigitalassetChainEvent.ts >= since,
            )
            .order_by(DigitalassetChainEvent.ts, DigitalassetChainEvent.id)
        )
    )
    new_ids = {e.id for e in new}
    fresh_rows = {i for i, e in enumerate(window) if e.id in new_ids}
    table = from_records(
        {
            "ts": e.ts,
            "collection": e.collection,
            "token_id": e.token_id,
            "seller": e.seller,
            "buyer": e.buyer,
            "price_cny": e.price_cny,
        }
        for e in window
    )
    org = collection.organization_id
    t0 = time.perf_counter()
    result = detect(
        table, labels=label_store(uow, org), suppressed=suppressed_keys(uow, org), config=cfg
    )
    seconds = time.perf_counter() - t0
    # Alerts wholly inside earlier pulls were stored by those pulls.
    result.alerts = [a for a in result.alerts if fresh_rows.intersection(a.rows)]
    # Rows of a chain run name stored events (their ids), not positions in this window.
    for a in result.alerts:
        a.evidence["tx_hashes"] = sorted({window[r].tx_hash for r in a.rows})
        a.rows = sorted(window[r].id for r in a.rows)
        for edge in (a.evidence.get("graph") or {}).get("edges", []):
            if isinstance(edge, dict) and isinstance(edge.get("row"), int):
                edge["row"] = window[edge["row"]].id
    result.events = len(new)
    digest = hashlib.sha256("".join(f"{e.tx_hash}:{e.log_index}" for e in new).encode())
    run = DigitalassetMonitorRun(
        organization_id=org,
        created_by=PULLED_BY,
        source=f"chain:{collection.address}"[:255],
        sha256=digest.hexdigest(),
    )
    uow.session.add(run)
    uow.session.flush()
    finish_run(uow, run, result, seconds)
    return {"events": len(new), "alerts_new": run.alerts_new, "alerts_seen": run.alerts_seen}


def pull_all(uow: UnitOfWork, chain: Chain) -> dict[str, int]:
    """Pull every collection of this chain, across organizations (an audited, unscoped read)."""
    totals = {"collections": 0, "events": 0, "alerts_new": 0, "alerts_seen": 0}
    with uow.unscoped(reason=REASON):
        collections = list(
            uow.session.scalars(
                select(DigitalassetCollection)
                .where(DigitalassetCollection.chain_id == chain.chain_id)
                .order_by(DigitalassetCollection.id)
            )
        )
        for c in collections:
            got = pull_collection(uow, chain, c)
            totals["collections"] += 1
            for k in ("events", "alerts_new", "alerts_seen"):
                totals[k] += got[k]
    return totals


def run_chain_monitor_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Scheduled job: pull new chain events of every collection into the monitor."""
    chain = chain_for(ctx.settings)
    with ctx.unit_of_work() as uow:
        totals = pull_all(uow, chain)
    ctx.progress(100, f"{totals['events']} new events, {totals['alerts_new']} new alerts")
    return dict(totals)
