"""跨部门共享: a unit subscribes to cases of some categories (交警 ← 车辆超载 on a bridge); each
matching event is recorded once per subscription (idempotency key), delivered to the unit's inbox
at once or POSTed to an allow-listed webhook with retries, every attempt in the delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select

from mingyue.enablers.citygov.models_cases import (
    CitygovCase,
    CitygovShareDelivery,
    CitygovShareSubscription,
)
from mingyue.enablers.citygov.schemas import DeliveryOut, SubscriptionIn, SubscriptionOut
from mingyue.sdk import (
    Actor,
    JobContext,
    SecretUnreadable,
    UnitOfWork,
    check,
    enqueue,
    get_visible,
    now,
    require_org,
    seal,
    unseal,
)
from mingyue.sdk.errors import InvalidInput

from .common import catalogue, opts, platform_scope

EVENTS = ("registered", "dispatched", "closed")
SEAL_PURPOSE = "citygov.share"
TIMEOUT_S = 5.0
BATCH = 100
LEASE = timedelta(seconds=60)  # a claimed delivery is not claimed again meanwhile


def _check_categories(codes: list[str]) -> list[str]:
    cats = catalogue()
    out: list[str] = []
    for raw in codes:
        code = raw.strip().upper()
        # a whole class may be subscribed: "E04" (突发事件类)
        if len(code) == 3 and any(c.startswith(code) for c in cats.categories):
            out.append(code)
        else:
            out.append(cats.get(raw).code)
    return sorted(set(out))


def _check_url(uow: UnitOfWork, url: str | None) -> str:
    hosts = opts(uow).share_hosts
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise InvalidInput(
            "citygov.share.bad_url", "the webhook must be an http(s) URL", field="url"
        )
    if host not in hosts:
        raise InvalidInput(
            "citygov.share.host_not_allowed",
            f"webhooks may only go to {', '.join(hosts) or 'no host (inbox only)'}",
            field="url",
            host=host,
        )
    return parts.geturl()


def subscribe(*, uow: UnitOfWork, actor: Actor, body: SubscriptionIn) -> SubscriptionOut:
    """Subscribe the caller's unit to cases of some categories (the secret is returned once)."""
    check(actor, "citygov.share.manage")
    org_id = require_org(actor)
    url = _check_url(uow, body.url) if body.target == "webhook" else None
    secret = secrets.token_urlsafe(32) if url else None
    row = CitygovShareSubscription(
        organization_id=org_id,
        name=body.name.strip(),
        categories=_check_categories(body.categories),
        events=sorted(set(body.events)),
        target=body.target,
        url=url,
        secret_sealed=seal(uow.settings, SEAL_PURPOSE, {"secret": secret}) if secret else None,
        active=True,
        created_at=now(),
        created_by=actor.label(),
    )
    uow.session.add(row)
    uow.flush()
    uow.audit(
        "citygov.share.subscribed",
        f"citygov_share_subscription:{row.id}",
        {"categories": row.categories, "events": row.events, "target": row.target, "url": url},
        organization_id=org_id,
    )
    out = SubscriptionOut.model_validate(row)
    out.secret = secret
    return out


def unsubscribe(*, uow: UnitOfWork, actor: Actor, subscription_id: int) -> SubscriptionOut:
    """End a subscription of the caller's unit (its delivery log stays)."""
    row = get_visible(uow, CitygovShareSubscription, subscription_id, "citygov.share.manage")
    row.active = False
    uow.audit(
        "citygov.share.unsubscribed",
        f"citygov_share_subscription:{row.id}",
        {},
        organization_id=row.organization_id,
    )
    return SubscriptionOut.model_validate(row)


def list_subscriptions(*, uow: UnitOfWork, actor: Actor) -> list[SubscriptionOut]:
    """Return the subscriptions the caller may read."""
    check(actor, "citygov.share.read")
    rows = uow.session.scalars(
        select(CitygovShareSubscription).order_by(CitygovShareSubscription.id.desc())
    )
    return [SubscriptionOut.model_validate(r) for r in rows]


def list_deliveries(
    *, uow: UnitOfWork, actor: Actor, subscription_id: int | None = None, limit: int = 100
) -> list[DeliveryOut]:
    """Return the delivery log the caller may read, newest first."""
    check(actor, "citygov.share.read")
    q = select(CitygovShareDelivery).order_by(CitygovShareDelivery.id.desc())
    if subscription_id is not None:
        q = q.where(CitygovShareDelivery.subscription_id == subscription_id)
    return [
        DeliveryOut.model_validate(r) for r in uow.session.scalars(q.limit(max(1, min(limit, 500))))
    ]


def _matches(sub: CitygovShareSubscription, code: str, event: str) -> bool:
    return event in (sub.events or []) and any(
        code == c or (len(c) == 3 and code.startswith(c)) for c in sub.categories or []
    )


def idempotency_key(subscription_id: int, row: CitygovCase, event: str) -> str:
    """Return the key of one event of one case for one subscription (the same on every retry)."""
    return hashlib.sha256(f"{subscription_id}:{row.code}:{event}".encode()).hexdigest()[:48]


def payload(row: CitygovCase, event: str) -> dict[str, Any]:
    """Return what a subscriber receives about a case event."""
    return {
        "event": event,
        "case": {
            "code": row.code,
            "category": row.category,
            "kind": row.kind,
            "title": row.title,
            "description": row.description,
            "lon": row.lon,
            "lat": row.lat,
            "address": row.address,
            "stage": row.stage,
            "source": row.source,
            "created_at": row.created_at.isoformat(),
        },
        "at": now().isoformat(),
    }


def emit(uow: UnitOfWork, row: CitygovCase, event: str) -> int:
    """Record a case event for every matching active subscription; return how many."""
    with platform_scope(uow, "find the units subscribed to a case's category", record=False):
        subs = [
            s
            for s in uow.session.scalars(
                select(CitygovShareSubscription).where(CitygovShareSubscription.active.is_(True))
            )
            if _matches(s, row.category, event)
        ]
        made = 0
        webhook = False
        for sub in subs:
            key = idempotency_key(sub.id, row, event)
            seen = uow.session.scalars(
                select(CitygovShareDelivery.id).where(
                    CitygovShareDelivery.subscription_id == sub.id,
                    CitygovShareDelivery.idempotency_key == key,
                )
            ).first()
            if seen is not None:
                continue
            t = now()
            inbox = sub.target == "inbox"
            uow.session.add(
                CitygovShareDelivery(
                    organization_id=sub.organization_id,
                    subscription_id=sub.id,
                    city_case_id=row.id,
                    event=event,
                    idempotency_key=key,
                    payload=payload(row, event),
                    status="delivered" if inbox else "pending",
                    attempts=1 if inbox else 0,
                    next_attempt_at=None if inbox else t,
                    delivered_at=t if inbox else None,
                    created_at=t,
                )
            )
            webhook = webhook or not inbox
            made += 1
        uow.flush()
    if webhook:
        enqueue(
            uow=uow,
            kind="citygov.share.deliver",
            params={},
            organization_id=row.organization_id,
            platform=True,
        )
    return made


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def _post(url: str, key: str, event: str, body_doc: dict[str, Any], secret: str) -> int:
    body = json.dumps(body_doc, ensure_ascii=False, separators=(",", ":")).encode()
    sig = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": "application/json",
        "idempotency-key": key,
        "x-citygov-signature": f"sha256={sig}",
        "x-citygov-event": event,
    }
    # Redirects are not followed: a 3xx could point anywhere, the allow-list names the host.
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=False, trust_env=False) as client:
        return client.post(url, content=body, headers=headers).status_code


@dataclass(frozen=True)
class _Claim:
    id: int
    url: str | None
    secret: str | None
    key: str
    event: str
    payload: dict[str, Any]


def claim_due(uow: UnitOfWork) -> list[_Claim]:
    """Take the webhook deliveries that are due, leasing them for a minute (no network here)."""
    hosts = opts(uow).share_hosts
    t = now()
    claims: list[_Claim] = []
    due = uow.session.scalars(
        select(CitygovShareDelivery)
        .where(
            CitygovShareDelivery.status == "pending",
            or_(
                CitygovShareDelivery.next_attempt_at.is_(None),
                CitygovShareDelivery.next_attempt_at <= t,
            ),
        )
        .order_by(CitygovShareDelivery.id)
        .limit(BATCH)
    ).all()
    for d in due:
        sub = uow.session.get(CitygovShareSubscription, d.subscription_id)
        url, secret = None, None
        if sub is not None and sub.active and sub.url and urlsplit(sub.url).hostname in hosts:
            try:
                secret = unseal(uow.settings, SEAL_PURPOSE, sub.secret_sealed or "")["secret"]
                url = sub.url
            except SecretUnreadable:
                url = None
        d.next_attempt_at = t + LEASE
        claims.append(_Claim(d.id, url, secret, d.idempotency_key, d.event, dict(d.payload)))
    uow.flush()
    return claims


def attempt(claim: _Claim) -> tuple[int | None, str | None]:
    """POST one claimed delivery; return the HTTP status and the error (None when delivered)."""
    if claim.url is None or claim.secret is None:
        return None, "subscription ended, or its host is no longer allowed"
    try:
        status = _post(claim.url, claim.key, claim.event, claim.payload, claim.secret)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    return status, None if 200 <= status < 300 else f"HTTP {status}"


def record_attempts(
    uow: UnitOfWork, results: list[tuple[int, int | None, str | None]]
) -> dict[str, int]:
    """Write each attempt's outcome: delivered, a retry after back-off, or dead."""
    max_attempts = opts(uow).share_max_attempts
    counts = {"delivered": 0, "retry": 0, "dead": 0}
    for delivery_id, status, error in results:
        d = uow.session.get(CitygovShareDelivery, delivery_id)
        if d is None or d.status != "pending":
            continue
        d.attempts += 1
        d.response_status = status
        subject = f"citygov_share_delivery:{d.id}"
        if error is None:
            d.status, d.delivered_at, d.next_attempt_at, d.last_error = (
                "delivered",
                now(),
                None,
                None,
            )
            counts["delivered"] += 1
            uow.audit(
                "citygov.share.delivered",
                subject,
                {"event": d.event, "attempts": d.attempts, "status": status},
                organization_id=d.organization_id,
            )
        elif d.attempts >= max_attempts:
            d.status, d.next_attempt_at, d.last_error = "dead", None, error[:300]
            counts["dead"] += 1
            uow.audit(
                "citygov.share.dead",
                subject,
                {"event": d.event, "attempts": d.attempts, "error": error[:300]},
                organization_id=d.organization_id,
            )
        else:
            d.next_attempt_at, d.last_error = now() + _backoff(d.attempts), error[:300]
            counts["retry"] += 1
    uow.flush()
    return counts


def run_delivery_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Deliver the shared events that are due: claim, POST outside any transaction, record."""
    with ctx.unit_of_work() as uow, platform_scope(uow, "claim shared events", record=False):
        claims = claim_due(uow)
    results = [(c.id, *attempt(c)) for c in claims]
    with ctx.unit_of_work() as uow, platform_scope(uow, "record deliveries", record=False):
        return record_attempts(uow, results)
