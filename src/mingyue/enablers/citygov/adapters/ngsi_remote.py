"""The NGSI-LD broker's outbound traffic: allow-listed @context fetches and notifications.

Every URL here has passed the service's allow-list (``MINGYUE_CITYGOV__NGSI_CONTEXT_URLS``,
``__NGSI_NOTIFY_HOSTS``, ``__NGSI_MQTT_BROKERS``) before it reaches these functions; they add
the transport limits (time-outs, size caps, no redirects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from mingyue.enablers.citygov.engine.ngsi.errors import NgsiError, bad_data

CONTEXT_MAX_BYTES = 256 * 1024
CONTEXT_TIMEOUT_S = 5.0
NOTIFY_TIMEOUT_S = 5.0


def fetch_context(url: str) -> Any:
    """GET a JSON-LD context document (no redirects, 256 KiB, 5 s) and parse it."""
    try:
        with (
            httpx.Client(timeout=CONTEXT_TIMEOUT_S, follow_redirects=False) as client,
            client.stream(
                "GET", url, headers={"Accept": "application/ld+json, application/json"}
            ) as r,
        ):
            if r.status_code != 200:
                raise NgsiError(
                    "LdContextNotAvailable", f"the @context {url} answered {r.status_code}"
                )
            body = b""
            for chunk in r.iter_bytes():
                body += chunk
                if len(body) > CONTEXT_MAX_BYTES:
                    raise NgsiError("LdContextNotAvailable", f"the @context {url} is too large")
    except httpx.HTTPError as exc:
        raise NgsiError("LdContextNotAvailable", f"the @context {url} cannot be loaded") from exc
    try:
        return json.loads(body)
    except ValueError:
        raise bad_data(f"the @context {url} is not JSON") from None


@dataclass(frozen=True)
class Delivery:
    """The outcome of one notification."""

    ok: bool
    detail: str = ""


def _reason(exc: BaseException, url: str) -> str:
    """Describe a failure without the endpoint URL (it may carry credentials or tokens)."""
    text = str(exc)
    return (
        type(exc).__name__ if url in text or "@" in text else f"{type(exc).__name__}: {text}"[:300]
    )


def post_notification(url: str, body: bytes, headers: dict[str, str]) -> Delivery:
    """POST a notification to an HTTP endpoint (no redirects, 5 s)."""
    try:
        with httpx.Client(timeout=NOTIFY_TIMEOUT_S, follow_redirects=False) as client:
            r = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Delivery(False, _reason(exc, url))
    if 200 <= r.status_code < 300:
        return Delivery(True)
    return Delivery(False, f"HTTP {r.status_code}")


def publish_notification(url: str, payload: bytes, *, qos: int = 1) -> Delivery:
    """Publish a notification to ``mqtt://host:port/topic`` and wait for the broker's ack."""
    parts = urlsplit(url)
    topic = parts.path.lstrip("/")
    if not parts.hostname or not topic:
        return Delivery(False, "the MQTT endpoint needs a host and a topic")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if parts.username:
        client.username_pw_set(parts.username, parts.password)
    try:
        client.connect(parts.hostname, parts.port or 1883, keepalive=10)
        client.loop_start()
        info = client.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=NOTIFY_TIMEOUT_S)
        ok = info.is_published()
    except (OSError, ValueError, RuntimeError) as exc:
        return Delivery(False, _reason(exc, url))
    finally:
        client.loop_stop()
        client.disconnect()
    return Delivery(ok, "" if ok else "the broker did not acknowledge")
