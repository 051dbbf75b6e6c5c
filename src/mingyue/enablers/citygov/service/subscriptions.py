"""NGSI-LD subscriptions of a tenant: CRUD, matching entity changes, delivering notifications.

A change is matched inside the writing unit of work and its notification rendered there; the
notification is *sent* only after that unit of work commits (an ``after_commit`` hook hands it
to a small thread pool), so nobody is told of a change that was rolled back. Each delivery
updates the subscription's counters (``timesSent``, ``lastSuccess``, ``lastFailure``…) in a unit
of work of its own. Endpoints pass an allow-list when the subscription is made and again
before each delivery: HTTP to loopback (outside prod) or ``MINGYUE_CITYGOV__NGSI_NOTIFY_HOSTS``,
MQTT to ``MINGYUE_CITYGOV__NGSI_MQTT_BROKERS``.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event, select

from mingyue.enablers.citygov import settings as citygov_settings
from mingyue.enablers.citygov.adapters import ngsi_remote
from mingyue.enablers.citygov.engine.ngsi import context as jsonld
from mingyue.enablers.citygov.engine.ngsi import subscription as subs
from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError, bad_data, not_found
from mingyue.enablers.citygov.engine.ngsi.projection import Join, Shaper, parse_projection
from mingyue.enablers.citygov.engine.ngsi.query import LinkResolver
from mingyue.enablers.citygov.engine.ngsi.render import RenderOptions, parse_lang
from mingyue.enablers.citygov.engine.ngsi.values import format_datetime, parse_datetime
from mingyue.enablers.citygov.models_broker import NgsiEntity, NgsiSubscription
from mingyue.enablers.citygov.service.ngsi_context import active_context
from mingyue.sdk import SYSTEM, Settings, UnitOfWork, now, unit_of_work

log = logging.getLogger(__name__)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_OUTBOX = "citygov_ngsi_outbox"
_SUBS_CACHE = "citygov_ngsi_subs"
# Four delivery lanes; one subscription always uses the same lane, so its notifications leave
# in the order of the changes that fired them.
_LANES = [
    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ngsi-notify-{i}") for i in range(4)
]
_pending: set[Future[None]] = set()
_pending_lock = threading.Lock()


# -- allow-lists --------------------------------------------------------------------------------


def check_endpoint(settings: Settings, uri: str) -> None:
    """Refuse (400) a notification endpoint outside the allow-lists."""
    opts = citygov_settings.options(settings)
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    if not host:
        raise bad_data("the endpoint uri has no host")
    if parts.scheme in ("http", "https"):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if host in _LOOPBACK and settings.env != "prod":
            return
        allowed = {h.lower() for h in opts.ngsi_notify_hosts}
        if host in allowed or f"{host}:{port}" in allowed:
            return
        raise bad_data(
            f"notifications may not be sent to {host}: the host is not in "
            "MINGYUE_CITYGOV__NGSI_NOTIFY_HOSTS"
        )
    if parts.scheme in ("mqtt", "mqtts"):
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        if f"{host}:{port}" in {b.lower() for b in opts.ngsi_mqtt_brokers}:
            return
        raise bad_data(
            f"notifications may not be published to {host}:{port}: the broker is not in "
            "MINGYUE_CITYGOV__NGSI_MQTT_BROKERS"
        )
    raise bad_data("the endpoint uri must be http(s) or mqtt(s)")


def endpoint_host(uri: str) -> str:
    """Return ``scheme://host:port`` of an endpoint: what logs and the ledger may show.

    The user name, password, path and query of an endpoint may carry secrets (MQTT credentials,
    webhook tokens); they are never logged.
    """
    parts = urlsplit(uri)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


# -- CRUD ---------------------------------------------------------------------------------------


def _row(uow: UnitOfWork, org_id: int, sub_id: str) -> NgsiSubscription | None:
    return uow.session.scalars(
        select(NgsiSubscription).where(
            NgsiSubscription.organization_id == org_id, NgsiSubscription.sub_id == sub_id
        )
    ).one_or_none()


def _require(uow: UnitOfWork, org_id: int, sub_id: str) -> NgsiSubscription:
    row = _row(uow, org_id, sub_id)
    if row is None:
        raise not_found(f"subscription {sub_id} does not exist")
    return row


def _status(row: NgsiSubscription) -> dict[str, Any]:
    def fmt(d: datetime | None) -> str | None:
        return format_datetime(d) if d is not None else None

    expired = row.expires_at is not None and row.expires_at <= now()
    state = "expired" if expired else ("active" if row.active else "paused")
    return {
        "status": state,
        "timesSent": row.times_sent or None,
        "timesFailed": row.times_failed or None,
        "lastNotification": fmt(row.last_notification),
        "lastSuccess": fmt(row.last_success),
        "lastFailure": fmt(row.last_failure),
        "failed": row.last_failure is not None
        and (row.last_success is None or row.last_failure > row.last_success),
    }


def create(
    uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, contexts: list[Any], body: Any
) -> str:
    """Create a subscription (409 when its id is taken); return its id."""
    doc = subs.parse(body, ctx)
    if "expiresAt" in doc and parse_datetime(doc["expiresAt"]) <= now():
        raise bad_data("expiresAt is in the past")
    if "jsonldContext" in doc:
        active_context(uow.settings, [doc["jsonldContext"]])  # refuse one that cannot load
    check_endpoint(uow.settings, doc["notification"]["endpoint"]["uri"])
    doc.setdefault("id", subs.new_id())
    if _row(uow, org_id, doc["id"]) is not None:
        raise NgsiError("AlreadyExists", f"subscription {doc['id']} already exists")
    row = NgsiSubscription(
        organization_id=org_id,
        sub_id=doc["id"],
        doc=doc,
        context=list(contexts),
        active=doc.get("isActive", True),
        interval_s=float(doc["timeInterval"]) if "timeInterval" in doc else None,
        created_by=uow.actor.label(),
        expires_at=parse_datetime(doc["expiresAt"]) if "expiresAt" in doc else None,
    )
    uow.session.add(row)
    uow.flush()
    uow.session.info.pop(_SUBS_CACHE, None)
    uow.audit(
        "citygov.ngsi.subscription_created",
        f"citygov_ngsi_subscription:{row.id}",
        {
            "subscription": doc["id"],
            "endpoint": endpoint_host(doc["notification"]["endpoint"]["uri"]),
        },
        organization_id=org_id,
    )
    return str(doc["id"])


def get(uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, sub_id: str) -> dict[str, Any]:
    """Return one subscription compacted against ``ctx``."""
    row = _require(uow, org_id, sub_id)
    return subs.render(row.doc, ctx, status=_status(row))


def list_all(
    uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of the tenant's subscriptions and their total."""
    rows = list(
        uow.session.scalars(
            select(NgsiSubscription)
            .where(NgsiSubscription.organization_id == org_id)
            .order_by(NgsiSubscription.id)
        )
    )
    page = rows[offset : offset + limit]
    return [subs.render(r.doc, ctx, status=_status(r)) for r in page], len(rows)


def update(uow: UnitOfWork, *, org_id: int, ctx: ActiveContext, sub_id: str, body: Any) -> None:
    """Update a subscription with a fragment (PATCH /subscriptions/{id})."""
    row = _require(uow, org_id, sub_id)
    if isinstance(body, dict) and "id" in body and body["id"] != sub_id:
        raise bad_data("the id in the payload differs from the subscription in the path")
    if isinstance(body, dict) and not body:
        raise bad_data("the update is empty")
    frag = subs.parse(body, ctx, partial=True)
    doc = subs.merge(row.doc, frag)
    if "notification" in frag:
        check_endpoint(uow.settings, doc["notification"]["endpoint"]["uri"])
    if "expiresAt" in frag:
        row.expires_at = parse_datetime(doc["expiresAt"])
        if row.expires_at <= now():
            raise bad_data("expiresAt is in the past")
    if "isActive" in frag:
        row.active = bool(frag["isActive"])
    if "timeInterval" in frag:
        row.interval_s = float(frag["timeInterval"])
    row.doc = doc
    row.modified_at = now()
    uow.session.info.pop(_SUBS_CACHE, None)
    uow.audit(
        "citygov.ngsi.subscription_updated",
        f"citygov_ngsi_subscription:{row.id}",
        {"subscription": sub_id, "members": sorted(frag)},
        organization_id=org_id,
    )


def delete(uow: UnitOfWork, *, org_id: int, sub_id: str) -> None:
    """Delete a subscription."""
    row = _require(uow, org_id, sub_id)
    uow.audit(
        "citygov.ngsi.subscription_deleted",
        f"citygov_ngsi_subscription:{row.id}",
        {"subscription": sub_id},
        organization_id=org_id,
    )
    uow.session.delete(row)
    uow.session.info.pop(_SUBS_CACHE, None)


# -- matching and delivery ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One notification ready to send once the change is committed."""

    settings: Settings
    row_id: int
    org_id: int
    uri: str
    body: bytes
    headers: dict[str, str]


def _context_of(uow: UnitOfWork, row: NgsiSubscription) -> ActiveContext:
    doc = row.doc
    items: list[Any] = [doc["jsonldContext"]] if "jsonldContext" in doc else list(row.context or [])
    return active_context(uow.settings, items)


def _subscriptions(uow: UnitOfWork, org_id: int) -> list[NgsiSubscription]:
    cache: dict[int, list[NgsiSubscription]] = uow.session.info.setdefault(_SUBS_CACHE, {})
    if org_id not in cache:
        cache[org_id] = list(
            uow.session.scalars(
                select(NgsiSubscription).where(
                    NgsiSubscription.organization_id == org_id, NgsiSubscription.active.is_(True)
                )
            )
        )
    return cache[org_id]


def entity_changed(
    uow: UnitOfWork,
    *,
    org_id: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    trigger: str,
) -> int:
    """Queue the notifications a change fires (sent after commit); return how many."""
    rows = _subscriptions(uow, org_id)
    if not rows:
        return 0
    change = subs.describe(before, after, trigger)
    stamp = format_datetime(now())
    queued = 0
    for row in rows:
        try:
            ctx = _context_of(uow, row)
            if not subs.should_notify(row.doc, change, ctx, stamp, _resolver(uow, org_id)):
                continue
        except NgsiError as exc:
            log.warning("subscription %s cannot be evaluated: %s", row.sub_id, exc.message)
            continue
        throttle = row.doc.get("throttling")
        if (
            throttle
            and row.last_notification is not None
            and ((now() - row.last_notification).total_seconds() < float(throttle))
        ):
            continue
        _queue(uow, _build(uow, row, change, ctx, stamp))
        row.last_notification = now()
        queued += 1
    return queued


def _resolver(uow: UnitOfWork, org_id: int) -> LinkResolver:
    def resolve(entity_id: str) -> dict[str, Any] | None:
        found = uow.session.scalars(
            select(NgsiEntity.doc).where(
                NgsiEntity.organization_id == org_id, NgsiEntity.entity_id == entity_id
            )
        ).one_or_none()
        return dict(found) if found is not None else None

    return resolve


def _build(
    uow: UnitOfWork, row: NgsiSubscription, change: subs.Change, ctx: ActiveContext, stamp: str
) -> Outgoing:
    doc = subs.notified_doc(row.doc, change, stamp)
    return _message(uow, row, [doc], ctx, stamp, reason=change.trigger)


def queue_periodic(
    uow: UnitOfWork, row: NgsiSubscription, docs: list[dict[str, Any]], ctx: ActiveContext
) -> None:
    """Queue the notification of a periodic (timeInterval) subscription (sent after commit)."""
    stamp = format_datetime(now())
    _queue(uow, _message(uow, row, docs, ctx, stamp, reason="timeInterval"))


def _message(
    uow: UnitOfWork,
    row: NgsiSubscription,
    docs: list[dict[str, Any]],
    ctx: ActiveContext,
    stamp: str,
    *,
    reason: str,
) -> Outgoing:
    sub = row.doc
    n = sub.get("notification", {})
    fmt = n.get("format", "normalized")
    attrs = frozenset(n["attributes"]) if n.get("attributes") else None
    datasets = sub.get("datasetId")
    opts = RenderOptions(
        simplified=fmt in ("keyValues", "simplified"),
        sys_attrs=bool(n.get("sysAttrs")),
        attrs=attrs,
        lang=parse_lang(sub["lang"]) if sub.get("lang") else None,
        dataset_ids=(
            frozenset(None if d == "@none" else d for d in datasets) if datasets else None
        ),
    )
    join = None
    if n.get("join") in ("inline", "flat"):
        join = Join(n["join"], int(n.get("joinLevel", 1)))
    resolve = _resolver(uow, row.organization_id)
    pick = parse_projection(n["pick"], "pick") if n.get("pick") else None
    omit = parse_projection(n["omit"], "omit") if n.get("omit") else None
    shaper = Shaper(ctx=ctx, opts=opts, pick=pick, omit=omit, join=join, resolve=resolve)
    data = shaper.entities(docs)
    endpoint = n.get("endpoint", {})
    accept = endpoint.get("accept", "application/json")
    context_value = _context_value(sub, row)
    body: dict[str, Any] = {
        "id": subs.notification_id(),
        "type": "Notification",
        "subscriptionId": sub["id"],
        "notifiedAt": stamp,
        "data": data,
        "triggerReason": reason,
    }
    headers = {"Content-Type": "application/json"}
    if accept == "application/ld+json":
        headers["Content-Type"] = "application/ld+json"
        body["@context"] = context_value
        body["data"] = [{**e, "@context": context_value} for e in data]
    else:
        link = context_value if isinstance(context_value, str) else jsonld.CORE_URL
        headers["Link"] = (
            f'<{link}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
        )
    for info in endpoint.get("receiverInfo", []):
        headers[info["key"]] = info["value"]
    uri = endpoint["uri"]
    payload: Any = body
    if urlsplit(uri).scheme in ("mqtt", "mqtts"):
        meta = dict(headers)
        for info in endpoint.get("notifierInfo", []):
            meta[info["key"]] = info["value"]
        payload = {"metadata": meta, "body": body}
    return Outgoing(
        settings=uow.settings,
        row_id=row.id,
        org_id=row.organization_id,
        uri=uri,
        body=json.dumps(payload, ensure_ascii=False).encode(),
        headers=headers,
    )


def _context_value(sub: dict[str, Any], row: NgsiSubscription) -> Any:
    if "jsonldContext" in sub:
        return sub["jsonldContext"]
    items = list(row.context or [])
    if not items:
        return jsonld.CORE_URL
    return items[0] if len(items) == 1 else items


def _queue(uow: UnitOfWork, out: Outgoing) -> None:
    session = uow.session
    box: list[Outgoing] | None = session.info.get(_OUTBOX)
    if box is None:
        box = []
        session.info[_OUTBOX] = box
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    box.append(out)


def _after_commit(session: Any) -> None:
    box: list[Outgoing] = session.info.pop(_OUTBOX, None) or []
    session.info.pop(_SUBS_CACHE, None)
    for out in box:
        fut = _LANES[out.row_id % len(_LANES)].submit(_deliver, out)
        with _pending_lock:
            _pending.add(fut)
        fut.add_done_callback(_done)


def _after_rollback(session: Any) -> None:
    session.info.pop(_OUTBOX, None)
    session.info.pop(_SUBS_CACHE, None)


def _done(fut: Future[None]) -> None:
    with _pending_lock:
        _pending.discard(fut)


def _deliver(out: Outgoing) -> None:
    try:
        check_endpoint(out.settings, out.uri)
        if urlsplit(out.uri).scheme in ("mqtt", "mqtts"):
            result = ngsi_remote.publish_notification(out.uri, out.body)
        else:
            result = ngsi_remote.post_notification(out.uri, out.body, out.headers)
    except NgsiError as exc:
        result = ngsi_remote.Delivery(False, exc.message)
    try:
        with unit_of_work(SYSTEM, out.settings) as uow:
            row = uow.session.get(NgsiSubscription, out.row_id)
            if row is None:
                return
            stamp = now()
            row.times_sent = (row.times_sent or 0) + 1
            if result.ok:
                row.last_success = stamp
            else:
                row.times_failed = (row.times_failed or 0) + 1
                row.last_failure = stamp
                row.last_error = result.detail
                log.info(
                    "notification of %s to %s failed: %s",
                    row.sub_id,
                    endpoint_host(out.uri),
                    result.detail,
                )
    except Exception:  # the counters are best effort; the delivery itself is done
        log.exception("could not record the delivery of a notification")


def wait_idle(timeout: float = 10.0) -> bool:
    """Wait until every queued notification is delivered (tests, shutdown); True if idle."""
    with _pending_lock:
        pending = set(_pending)
    if not pending:
        return True
    _finished, not_done = wait_futures(pending, timeout=timeout)
    return not not_done
