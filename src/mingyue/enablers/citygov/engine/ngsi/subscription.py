"""NGSI-LD subscriptions (clause 5.2.12): parse, validate, render, and decide what to notify."""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from mingyue.enablers.citygov.engine.ngsi import geo
from mingyue.enablers.citygov.engine.ngsi.context import ActiveContext
from mingyue.enablers.citygov.engine.ngsi.entity import VALUE_MEMBER
from mingyue.enablers.citygov.engine.ngsi.errors import bad_data
from mingyue.enablers.citygov.engine.ngsi.projection import overlap, parse_projection
from mingyue.enablers.citygov.engine.ngsi.query import (
    Evaluator,
    LinkResolver,
    match_selector,
    parse_q,
    parse_scope_q,
    parse_selector,
    scope_matches,
    selector_names,
)
from mingyue.enablers.citygov.engine.ngsi.values import (
    check_id,
    check_name,
    is_datetime,
    is_uri,
    parse_datetime,
)

TRIGGERS = (
    "entityCreated",
    "entityUpdated",
    "entityDeleted",
    "attributeCreated",
    "attributeUpdated",
    "attributeDeleted",
)
DEFAULT_TRIGGERS = ("attributeCreated", "attributeUpdated")  # clause 5.2.12 default
FORMATS = ("normalized", "keyValues", "simplified", "concise")
ACCEPTS = ("application/json", "application/ld+json", "application/geo+json")
_MEMBERS = frozenset(
    {
        "id",
        "type",
        "subscriptionName",
        "description",
        "entities",
        "watchedAttributes",
        "notificationTrigger",
        "timeInterval",
        "q",
        "geoQ",
        "scopeQ",
        "csf",
        "isActive",
        "notification",
        "expiresAt",
        "throttling",
        "lang",
        "jsonldContext",
        "@context",
        "status",
        "createdAt",
        "modifiedAt",
        "temporalQ",
        "datasetId",
    }
)
_NOTIF_MEMBERS = frozenset(
    {
        "attributes",
        "sysAttrs",
        "format",
        "endpoint",
        "status",
        "timesSent",
        "timesFailed",
        "lastNotification",
        "lastFailure",
        "lastSuccess",
        "showChanges",
        "join",
        "joinLevel",
        "pick",
        "omit",
    }
)


def new_id() -> str:
    """Return a fresh subscription id."""
    return f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"


def _names(raw: Any, what: str, ctx: ActiveContext) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise bad_data(f"{what} must be a non-empty array of names")
    return [ctx.expand(check_name(n, what)) for n in raw]


def parse(body: Any, ctx: ActiveContext, *, partial: bool = False) -> dict[str, Any]:
    """Parse a subscription (or, with ``partial``, an update fragment) into its stored form."""
    if not isinstance(body, dict):
        raise bad_data("a subscription must be a JSON object")
    # Read-only members (status, timesSent …) and members the model does not define are
    # ignored, never stored nor echoed (clause 5.2.12, Table 5.2.12-2).
    body = {k: v for k, v in body.items() if k in _MEMBERS}
    out: dict[str, Any] = {}
    if (not partial or "type" in body) and body.get("type") != "Subscription":
        raise bad_data("the type of a subscription is Subscription")
    if "id" in body:
        out["id"] = check_id(body["id"], "subscription id")
    for key in ("subscriptionName", "description"):
        if key in body:
            if not isinstance(body[key], str):
                raise bad_data(f"{key} must be a string")
            out[key] = body[key]
    if "entities" in body:
        out["entities"] = _entities(body["entities"], ctx)
    if "watchedAttributes" in body:
        out["watchedAttributes"] = _names(body["watchedAttributes"], "watchedAttributes", ctx)
    if "timeInterval" in body:
        ti = body["timeInterval"]
        if isinstance(ti, bool) or not isinstance(ti, (int, float)) or ti <= 0:
            raise bad_data("timeInterval must be a positive number of seconds")
        if "watchedAttributes" in body or "throttling" in body:
            raise bad_data("timeInterval excludes watchedAttributes and throttling")
        out["timeInterval"] = ti
    if "datasetId" in body:
        ds = body["datasetId"]
        items = ds if isinstance(ds, list) else [ds]
        if not items or not all(isinstance(d, str) and (d == "@none" or is_uri(d)) for d in items):
            raise bad_data("datasetId holds URIs (or @none)")
        out["datasetId"] = list(items)
    if "csf" in body:
        if not isinstance(body["csf"], str):
            raise bad_data("csf must be a string")
        parse_q(body["csf"])
        out["csf"] = body["csf"]
    if "notificationTrigger" in body:
        trig = body["notificationTrigger"]
        if not isinstance(trig, list) or not trig or not all(t in TRIGGERS for t in trig):
            raise bad_data(f"notificationTrigger holds values of {', '.join(TRIGGERS)}")
        out["notificationTrigger"] = list(trig)
    if "q" in body:
        if not isinstance(body["q"], str):
            raise bad_data("q must be a string")
        parse_q(query_text(body["q"]))
        out["q"] = body["q"]
    if "scopeQ" in body:
        if not isinstance(body["scopeQ"], str):
            raise bad_data("scopeQ must be a string")
        parse_scope_q(body["scopeQ"])
        out["scopeQ"] = body["scopeQ"]
    if "geoQ" in body:
        out["geoQ"] = _geo_q(body["geoQ"], ctx)
    if "isActive" in body:
        if not isinstance(body["isActive"], bool):
            raise bad_data("isActive must be true or false")
        out["isActive"] = body["isActive"]
    if "expiresAt" in body:
        if not is_datetime(body["expiresAt"]):
            raise bad_data("expiresAt must be a DateTime")
        out["expiresAt"] = body["expiresAt"]
    if "throttling" in body:
        t = body["throttling"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0:
            raise bad_data("throttling must be a positive number of seconds")
        out["throttling"] = t
    if "lang" in body:
        if not isinstance(body["lang"], str):
            raise bad_data("lang must be a string")
        out["lang"] = body["lang"]
    if "jsonldContext" in body:
        if not isinstance(body["jsonldContext"], str):
            raise bad_data("jsonldContext must be a URI")
        out["jsonldContext"] = check_id(body["jsonldContext"], "jsonldContext")
    if "notification" in body:
        out["notification"] = _notification(body["notification"], ctx)
    if not partial:
        if "notification" not in out:
            raise bad_data("a subscription needs notification")
        if "entities" not in out and "watchedAttributes" not in out:
            raise bad_data("a subscription needs entities or watchedAttributes")
    for key in ("entities", "watchedAttributes", "notification", "type"):
        if partial and key in body and body[key] is None:
            raise bad_data(f"{key} cannot be removed from a subscription")
    return out


def query_text(q: str) -> str:
    """Return a subscription's q with percent-escapes decoded (clients send it URL-encoded)."""
    return unquote(q) if re.search(r"%[0-9A-Fa-f]{2}", q) else q


def _entities(raw: Any, ctx: ActiveContext) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise bad_data("entities must be a non-empty array")
    out = []
    for e in raw:
        if not isinstance(e, dict) or "type" not in e:
            raise bad_data("each entities member needs a type")
        if set(e) - {"id", "idPattern", "type"}:
            raise bad_data("an entities member has id, idPattern and type only")
        t = e["type"]
        if not isinstance(t, str) or not t:
            raise bad_data("an entities type must be a string")
        item: dict[str, Any]
        if any(c in t for c in "(|,;)"):
            # an Entity Type Selection (clause 4.17): names joined by | , ; and parentheses
            names = selector_names(parse_selector(t))
            for n in names:
                check_name(n, "entity type")
            item = {"type": t, "typeIris": {n: ctx.expand(n) for n in names}}
        else:
            item = {"type": ctx.expand(check_name(t, "entity type"))}
        if "id" in e:
            item["id"] = check_id(e["id"], "entities id")
        if "idPattern" in e:
            if not isinstance(e["idPattern"], str):
                raise bad_data("idPattern must be a string")
            try:
                re.compile(e["idPattern"])
            except re.error:
                raise bad_data(
                    f"idPattern {e['idPattern']!r} is not a regular expression"
                ) from None
            item["idPattern"] = e["idPattern"]
        out.append(item)
    return out


def _geo_q(raw: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_data("geoQ must be an object")
    if set(raw) - {"geometry", "coordinates", "georel", "geoproperty"}:
        raise bad_data("geoQ has geometry, coordinates, georel and geoproperty only")
    gp = raw.get("geoproperty")
    if gp is not None and not isinstance(gp, str):
        raise bad_data("geoproperty must be a string")
    q = geo.build_query(raw.get("georel"), raw.get("geometry"), raw.get("coordinates"), gp)
    if q is None:
        raise bad_data("geoQ needs georel, geometry and coordinates")
    out = {
        "geometry": raw["geometry"],
        "coordinates": q.geojson["coordinates"],
        "georel": raw["georel"],
    }
    if gp is not None:
        out["geoproperty"] = ctx.expand(gp)
    return out


def _notification(raw: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_data("notification must be an object")
    raw = {k: v for k, v in raw.items() if k in _NOTIF_MEMBERS}
    out: dict[str, Any] = {}
    if "attributes" in raw:
        out["attributes"] = _names(raw["attributes"], "notification attributes", ctx)
    for key in ("pick", "omit"):
        if key in raw:
            value = raw[key]
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                value = ",".join(value)
            if not isinstance(value, str):
                raise bad_data(f"notification {key} is a list of member names")
            parse_projection(value, key)
            out[key] = value
    if "attributes" in out and ("pick" in out or "omit" in out):
        raise bad_data("notification attributes cannot be combined with pick or omit")
    if "pick" in out and "omit" in out:
        clash = overlap(
            parse_projection(out["pick"], "pick"), parse_projection(out["omit"], "omit")
        )
        if clash is not None:
            raise bad_data(f"{clash!r} is both picked and omitted")
    if "format" in raw:
        if raw["format"] not in FORMATS:
            raise bad_data(f"notification format is one of {', '.join(FORMATS)}")
        out["format"] = raw["format"]
    if "sysAttrs" in raw:
        if not isinstance(raw["sysAttrs"], bool):
            raise bad_data("sysAttrs must be true or false")
        out["sysAttrs"] = raw["sysAttrs"]
    if "showChanges" in raw:
        if not isinstance(raw["showChanges"], bool):
            raise bad_data("showChanges must be true or false")
        if raw["showChanges"] and out.get("format") in ("keyValues", "simplified"):
            raise bad_data("showChanges needs the normalized (or concise) format")
        out["showChanges"] = raw["showChanges"]
    for key in ("join", "joinLevel"):
        if key in raw:
            out[key] = raw[key]
    if "join" in raw and raw["join"] not in ("inline", "flat", "@none"):
        raise bad_data("join is inline, flat or @none")
    if "joinLevel" in raw and (
        isinstance(raw["joinLevel"], bool)
        or not isinstance(raw["joinLevel"], int)
        or raw["joinLevel"] < 1
    ):
        raise bad_data("joinLevel must be a positive number")
    ep = raw.get("endpoint")
    if not isinstance(ep, dict) or not isinstance(ep.get("uri"), str):
        raise bad_data("notification needs an endpoint with a uri")
    if set(ep) - {"uri", "accept", "receiverInfo", "notifierInfo", "timeout", "cooldown"}:
        raise bad_data("unknown endpoint member")
    endpoint: dict[str, Any] = {"uri": check_id(ep["uri"], "endpoint uri")}
    scheme = urlsplit(ep["uri"]).scheme
    if scheme not in ("http", "https", "mqtt", "mqtts"):
        raise bad_data("the endpoint uri must be http(s) or mqtt(s)")
    if "accept" in ep:
        if ep["accept"] not in ACCEPTS:
            raise bad_data(f"endpoint accept is one of {', '.join(ACCEPTS)}")
        endpoint["accept"] = ep["accept"]
    for key in ("receiverInfo", "notifierInfo"):
        if key in ep:
            items = ep[key]
            if not isinstance(items, list) or not all(
                isinstance(i, dict)
                and isinstance(i.get("key"), str)
                and isinstance(i.get("value"), str)
                for i in items
            ):
                raise bad_data(f"{key} is an array of {{key, value}} strings")
            endpoint[key] = [{"key": i["key"], "value": i["value"]} for i in items]
    out["endpoint"] = endpoint
    return out


def merge(stored: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """Apply an update fragment to a stored subscription."""
    out = dict(stored)
    for k, v in fragment.items():
        if k == "notification":
            n = dict(out.get("notification", {}))
            n.update(v)
            out["notification"] = n
        elif k != "id":
            out[k] = v
    return out


def render(
    sub: dict[str, Any],
    ctx: ActiveContext,
    *,
    status: dict[str, Any],
) -> dict[str, Any]:
    """Return a stored subscription compacted against ``ctx`` with its delivery status."""
    out: dict[str, Any] = {"id": sub["id"], "type": "Subscription"}
    for key in ("subscriptionName", "description"):
        if key in sub:
            out[key] = sub[key]
    if "entities" in sub:
        ents = []
        for e in sub["entities"]:
            item = {k: v for k, v in e.items() if k not in ("type", "typeIris")}
            item["type"] = e["type"] if "typeIris" in e else ctx.compact(e["type"])
            ents.append(item)
        out["entities"] = ents
    if "watchedAttributes" in sub:
        out["watchedAttributes"] = [ctx.compact(a) for a in sub["watchedAttributes"]]
    for key in (
        "timeInterval",
        "q",
        "scopeQ",
        "csf",
        "datasetId",
        "expiresAt",
        "throttling",
        "lang",
        "jsonldContext",
    ):
        if key in sub:
            out[key] = sub[key]
    out["notificationTrigger"] = list(sub.get("notificationTrigger") or DEFAULT_TRIGGERS)
    if "geoQ" in sub:
        g = dict(sub["geoQ"])
        if "geoproperty" in g:
            g["geoproperty"] = ctx.compact(g["geoproperty"])
        out["geoQ"] = g
    if "isActive" in sub:
        out["isActive"] = sub["isActive"]
    out["status"] = status.get("status", "active")
    n = dict(sub.get("notification", {}))
    if "attributes" in n:
        n["attributes"] = [ctx.compact(a) for a in n["attributes"]]
    n.setdefault("format", "normalized")
    n["endpoint"] = dict(n.get("endpoint", {}))
    n["endpoint"].setdefault("accept", "application/json")
    for key in ("timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure"):
        if status.get(key) is not None:
            n[key] = status[key]
    if status.get("timesSent") or status.get("lastNotification"):
        n["status"] = "failed" if status.get("failed") else "ok"
    out["notification"] = n
    return out


# -- matching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One entity change: the documents before and after, the trigger, the attributes touched."""

    before: dict[str, Any] | None
    after: dict[str, Any] | None
    trigger: str
    created: frozenset[str]
    updated: frozenset[str]
    deleted: frozenset[str]


def describe(before: dict[str, Any] | None, after: dict[str, Any] | None, trigger: str) -> Change:
    """Compute which attributes a change created, updated and deleted (instance by instance)."""
    b = (before or {}).get("attrs", {})
    a = (after or {}).get("attrs", {})
    created: set[str] = set()
    updated: set[str] = set()
    deleted: set[str] = set()
    for iri in set(a) | set(b):
        old = {i.get("datasetId"): _strip([i])[0] for i in b.get(iri, [])}
        new = {i.get("datasetId"): _strip([i])[0] for i in a.get(iri, [])}
        if set(new) - set(old):
            created.add(iri)
        if set(old) - set(new):
            deleted.add(iri)
        if any(new[d] != old[d] for d in set(new) & set(old)):
            updated.add(iri)
    return Change(
        before, after, trigger, frozenset(created), frozenset(updated), frozenset(deleted)
    )


def _strip(instances: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in i.items() if k not in ("createdAt", "modifiedAt")} for i in instances]


def selects(sub: dict[str, Any], doc: dict[str, Any]) -> bool:
    """Tell whether the subscription's entity selectors pick this entity."""
    entities = sub.get("entities")
    if not entities:
        return True
    for e in entities:
        if "typeIris" in e:
            wanted = {n for n, iri in e["typeIris"].items() if iri in doc["type"]}
            if not match_selector(parse_selector(e["type"]), wanted.__contains__):
                continue
        elif e["type"] != "*" and e["type"] not in doc["type"]:
            continue
        if "id" in e and e["id"] != doc["id"]:
            continue
        if "idPattern" in e and "id" not in e and not re.search(e["idPattern"], doc["id"]):
            continue
        return True
    return False


def should_notify(
    sub: dict[str, Any],
    change: Change,
    ctx: ActiveContext,
    now_iso: str,
    resolve: LinkResolver | None = None,
) -> bool:
    """Decide whether a change fires the subscription (selectors, trigger, watched, q, geoQ).

    ``resolve`` finds the entities a relationship points to, for q terms such as ``a{b}==1``.
    """
    if not sub.get("isActive", True):
        return False
    if "expiresAt" in sub and parse_datetime(sub["expiresAt"]) <= parse_datetime(now_iso):
        return False
    doc = change.after if change.after is not None else change.before
    if doc is None or not selects(sub, doc):
        return False
    if "timeInterval" in sub:
        return False  # periodic subscriptions notify on their clock, not on changes
    triggers = set(sub.get("notificationTrigger") or DEFAULT_TRIGGERS)
    fired = False
    watched = set(sub.get("watchedAttributes") or [])
    if change.trigger == "entityCreated":
        fired = "entityCreated" in triggers or "attributeCreated" in triggers
        touched = change.created
    elif change.trigger == "entityDeleted":
        touched = change.deleted
        fired = "entityDeleted" in triggers or (
            "attributeDeleted" in triggers and bool(touched & watched if watched else touched)
        )
    else:
        touched = change.created | change.updated | change.deleted
        fired = (
            "entityUpdated" in triggers
            or ("attributeCreated" in triggers and bool(change.created))
            or ("attributeUpdated" in triggers and bool(change.updated))
            or ("attributeDeleted" in triggers and bool(change.deleted))
        )
        if fired and not touched:
            return False
    if not fired:
        return False
    if watched and not (watched & touched) and change.trigger != "entityDeleted":
        return False
    if change.after is None:
        return True
    q = parse_q(query_text(sub["q"])) if "q" in sub else None
    if q is not None and not Evaluator(ctx, resolve=resolve).matches(q, change.after):
        return False
    if "scopeQ" in sub and not match_selector(
        parse_scope_q(sub["scopeQ"]),
        lambda p: scope_matches(p, change.after.get("scope", []) if change.after else []),
    ):
        return False
    if "geoQ" in sub:
        g = sub["geoQ"]
        gq = geo.build_query(g["georel"], g["geometry"], g["coordinates"])
        if gq is None:
            return False
        iri = g.get("geoproperty", "https://uri.etsi.org/ngsi-ld/location")
        values = [
            i["value"]
            for i in change.after.get("attrs", {}).get(iri, [])
            if i.get("type") == "GeoProperty" and isinstance(i.get("value"), dict)
        ]
        if not any(geo.matches(gq, v) for v in values):
            return False
    return True


NGSI_NULL = "urn:ngsi-ld:null"
_NULL_VALUE: dict[str, Any] = {
    "Property": NGSI_NULL,
    "GeoProperty": NGSI_NULL,
    "Relationship": NGSI_NULL,
    "LanguageProperty": {"@none": NGSI_NULL},
    "JsonProperty": NGSI_NULL,
    "VocabProperty": NGSI_NULL,
    "ListProperty": [NGSI_NULL],
    "ListRelationship": [{"object": NGSI_NULL}],
}
PREVIOUS = {
    "Property": "previousValue",
    "GeoProperty": "previousValue",
    "Relationship": "previousObject",
    "LanguageProperty": "previousLanguageMap",
    "JsonProperty": "previousJson",
    "VocabProperty": "previousVocab",
    "ListProperty": "previousValueList",
    "ListRelationship": "previousObjectList",
}


def _nullified(inst: dict[str, Any], *, show: bool, stamp: str) -> dict[str, Any]:
    atype = inst["type"]
    member = VALUE_MEMBER[atype]
    out: dict[str, Any] = {"type": atype, member: _NULL_VALUE[atype]}
    if "datasetId" in inst:
        out["datasetId"] = inst["datasetId"]
    for m in ("createdAt", "modifiedAt"):
        if m in inst:
            out[m] = inst[m]
    out["deletedAt"] = stamp
    if show:
        out[PREVIOUS[atype]] = inst[member]
    return out


def notified_doc(sub: dict[str, Any], change: Change, stamp: str) -> dict[str, Any]:
    """Return the entity a notification carries (clause 5.8.6, 7.2 showChanges).

    Deleted attributes (or instances) appear with the NGSI-LD Null as their value; with
    ``showChanges`` each changed one carries its previous value. For a deleted entity: its id,
    type and ``deletedAt``, plus its attributes only where the subscription asks for them
    (``showChanges``, or an ``attributeDeleted`` trigger — the watched ones).
    """
    show = bool(sub.get("notification", {}).get("showChanges"))
    if change.after is None:
        before = change.before or {"id": "", "type": [], "attrs": {}}
        out: dict[str, Any] = {
            "id": before["id"],
            "type": before["type"],
            "deletedAt": stamp,
            "attrs": {},
        }
        for m in ("createdAt", "modifiedAt"):
            if m in before:
                out[m] = before[m]
        triggers = set(sub.get("notificationTrigger") or DEFAULT_TRIGGERS)
        watched = set(sub.get("watchedAttributes") or [])
        names: set[str] = set()
        if show:
            names = set(before.get("attrs", {}))
        elif "attributeDeleted" in triggers:
            names = (
                set(before.get("attrs", {})) & watched if watched else set(before.get("attrs", {}))
            )
        for iri in names:
            instances = before["attrs"][iri]
            default = next((i for i in instances if "datasetId" not in i), instances[0])
            gone = _nullified(default, show=show, stamp=stamp)
            gone.pop("datasetId", None)
            out["attrs"][iri] = [gone]
        return out
    doc = copy.deepcopy(change.after)
    old_attrs = (change.before or {}).get("attrs", {})
    for iri, old_instances in old_attrs.items():
        if iri not in doc["attrs"]:  # the whole attribute went: one null stands for it
            default = next((i for i in old_instances if "datasetId" not in i), old_instances[0])
            gone = _nullified(default, show=show, stamp=stamp)
            gone.pop("datasetId", None)
            doc["attrs"][iri] = [gone]
            continue
        current = doc["attrs"].get(iri, [])
        for old in old_instances:
            match = next((i for i in current if i.get("datasetId") == old.get("datasetId")), None)
            if match is None:
                doc["attrs"].setdefault(iri, []).append(_nullified(old, show=show, stamp=stamp))
            elif show and match.get("type") == old.get("type"):
                member = VALUE_MEMBER[old["type"]]
                if match.get(member) != old.get(member):
                    match[PREVIOUS[old["type"]]] = old.get(member)
    return doc


def notification_id() -> str:
    """Return a fresh notification id."""
    return f"urn:ngsi-ld:Notification:{uuid.uuid4()}"
