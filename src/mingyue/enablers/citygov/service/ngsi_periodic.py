"""Periodic NGSI-LD subscriptions (``timeInterval``): every due one gets the matching entities.

A background service of each web process (``Enabler.services``): once a second it looks for
active subscriptions whose ``timeInterval`` has elapsed since their last notification, runs
their selectors (entities, q, geoQ, scopeQ) against the tenant's entities and sends one
notification holding every match. Several web processes may run it: a subscription is claimed
by moving its ``last_notification`` forward in the same transaction that queues the message.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

from sqlalchemy import select

from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError
from mingyue.enablers.citygov.engine.ngsi.query import Node, Term, parse_q, parse_scope_q
from mingyue.enablers.citygov.engine.ngsi.subscription import query_text
from mingyue.enablers.citygov.models_broker import NgsiSubscription
from mingyue.enablers.citygov.service import broker, subscriptions
from mingyue.enablers.citygov.service.ngsi_context import active_context
from mingyue.sdk import SYSTEM, Settings, get_settings, now, unit_of_work

log = logging.getLogger(__name__)
TICK_S = 1.0


def _query(sub: dict[str, object]) -> broker.EntityQuery:
    q = broker.EntityQuery(limit=broker.MAX_LIMIT)
    entities = sub.get("entities") or []
    if isinstance(entities, list) and entities:
        q.types = Node("or", [Term(attr=str(e["type"])) for e in entities])
        ids = [str(e["id"]) for e in entities if "id" in e]
        if ids and len(ids) == len(entities):
            q.ids = ids
        patterns = [str(e["idPattern"]) for e in entities if "idPattern" in e]
        if patterns and len(patterns) == len(entities):
            q.id_pattern = re.compile("|".join(f"(?:{p})" for p in patterns))
    if isinstance(sub.get("q"), str):
        q.q = parse_q(query_text(str(sub["q"])))
    if isinstance(sub.get("scopeQ"), str):
        q.scope_q = parse_scope_q(str(sub["scopeQ"]))
    g = sub.get("geoQ")
    if isinstance(g, dict):
        q.geo = geo.build_query(g["georel"], g["geometry"], g["coordinates"])
        if "geoproperty" in g:
            q.geo_iri = str(g["geoproperty"])
    return q


def notify_due(settings: Settings) -> int:
    """Send the notifications of every due periodic subscription; return how many were sent."""
    sent = 0
    with unit_of_work(SYSTEM, settings) as uow:
        rows = list(
            uow.session.scalars(
                select(NgsiSubscription).where(
                    NgsiSubscription.interval_s.is_not(None), NgsiSubscription.active.is_(True)
                )
            )
        )
        stamp = now()
        for row in rows:
            interval = timedelta(seconds=float(row.interval_s or 0))
            if row.expires_at is not None and row.expires_at <= stamp:
                continue
            if row.last_notification is not None and stamp - row.last_notification < interval:
                continue
            try:
                ctx = active_context(settings, list(row.context or []))
                docs, _ = broker.run_query(
                    uow, org_id=row.organization_id, ctx=ctx, query=_query(row.doc)
                )
            except NgsiError as exc:
                log.warning("periodic subscription %s cannot run: %s", row.sub_id, exc.message)
                continue
            if docs:
                row.last_notification = stamp
                subscriptions.queue_periodic(uow, row, docs, ctx)
                sent += 1
    return sent


async def run(stopping: asyncio.Event) -> None:
    """Send periodic notifications once a second until ``stopping`` is set."""
    settings = get_settings()
    while not stopping.is_set():
        await asyncio.to_thread(notify_due, settings)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=TICK_S)
        except TimeoutError:
            continue
