"""The MQTT broker, seen from the telemetry subscriber (aiomqtt over paho-mqtt, MQTT v5).

``subscription(...)`` connects with a stable client id, clean start off and a session expiry,
so the broker keeps the session (subscription and queued QoS 1 messages) while we are away and
over its own restart when it persists them (Mosquitto ``persistence true``). Messages are
acknowledged by hand (paho's ``manual_ack``): ``Subscription.ack`` is called only after the
batch is committed to the database, so a message that was received but not stored is sent
again by the broker after a reconnect instead of being lost. PUBACKs go out in the order the
messages came, as MQTT 3.1.1 §4.6 / MQTT 5 §4.6 require.

aiomqtt 2.5 has no manual-ack option of its own; the paho client it wraps (``_client``) does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from mingyue.sdk.errors import InvalidInput


class BrokerUnavailable(Exception):
    """The broker refused or dropped the connection (the subscriber retries with back-off)."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the broker is and how to log in (``mqtt://user:pass@host:1883``, ``mqtts://``)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def display(self) -> str:
        """Return the address without its password (for logs and the console)."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_url(url: str) -> BrokerAddress:
    """Read a broker URL (``mqtt://`` or ``mqtts://``); InvalidInput for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise InvalidInput(
            "citygov.mqtt.bad_url", "the broker URL must be mqtt://host:port or mqtts://host:port"
        )
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError as exc:
        raise InvalidInput("citygov.mqtt.bad_url", "the broker URL has a bad port") from exc
    return BrokerAddress(
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "mqtts",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True)
class InMessage:
    """A message as received: its topic, payload and the id used to acknowledge it."""

    topic: str
    payload: bytes
    mid: int
    qos: int


def _in_message(m: aiomqtt.Message) -> InMessage:
    payload = m.payload if isinstance(m.payload, bytes | bytearray) else str(m.payload).encode()
    return InMessage(topic=m.topic.value, payload=bytes(payload), mid=m.mid, qos=m.qos)


class Subscription:
    """A live subscription: take batches of messages, acknowledge them once stored."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client
        self._iter = client.messages.__aiter__()
        self._pending: asyncio.Task[aiomqtt.Message] | None = None

    async def _take(self, timeout: float) -> InMessage | None:
        # One pending read kept across calls: cancelling a read could drop a message that had
        # just been taken off aiomqtt's queue (then it would wait unacknowledged for a reconnect).
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._iter.__anext__())
        done, _ = await asyncio.wait({self._pending}, timeout=max(timeout, 0.0))
        if not done:
            return None
        task, self._pending = self._pending, None
        try:
            m = task.result()
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(str(exc)) from exc
        return _in_message(m)

    async def batch(self, *, max_n: int, first_wait_s: float, gather_s: float) -> list[InMessage]:
        """Wait up to ``first_wait_s`` for a message, then gather more for ``gather_s`` (≤ max_n)."""
        first = await self._take(first_wait_s)
        if first is None:
            return []
        out = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + gather_s
        while len(out) < max_n:
            self._drain(out, max_n)
            if len(out) >= max_n:
                break
            m = await self._take(deadline - loop.time())
            if m is None:
                break
            out.append(m)
        return out

    def _drain(self, out: list[InMessage], max_n: int) -> None:
        # What is already queued is taken without a task and a wait per message (those cost
        # more than the rest of a message's way in). Only while no read is pending: a pending
        # read that completed holds an earlier message, which must stay first.
        if self._pending is not None:
            return
        queue = self._client._queue
        while len(out) < max_n:
            try:
                m = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            out.append(_in_message(m))

    def close(self) -> None:
        """Drop the pending read (a message it took stays unacknowledged: sent again later)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None

    def ack(self, messages: list[InMessage]) -> None:
        """Acknowledge stored messages (QoS 1 PUBACK), in the order they came."""
        paho = self._client._client
        for m in messages:
            if m.qos > 0:
                paho.ack(m.mid, m.qos)


@contextlib.asynccontextmanager
async def subscription(
    address: BrokerAddress,
    *,
    client_id: str,
    topic: str,
    session_expiry_s: int = 7 * 24 * 3600,
    receive_maximum: int = 1000,
    keepalive: int = 30,
    timeout_s: float = 10.0,
) -> AsyncIterator[Subscription]:
    """Connect as ``client_id`` with a persistent session and subscribe to ``topic`` (QoS 1)."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = session_expiry_s
    # how many unacknowledged QoS 1 messages the broker may have in flight to us
    props.ReceiveMaximum = receive_maximum
    kwargs: dict[str, Any] = {}
    if address.tls:
        kwargs["tls_context"] = ssl.create_default_context()
    client = aiomqtt.Client(
        address.host,
        address.port,
        identifier=client_id,
        username=address.username,
        password=address.password,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=props,
        keepalive=keepalive,
        timeout=timeout_s,
        **kwargs,
    )
    client._client.manual_ack_set(True)
    try:
        async with client:
            await client.subscribe(topic, qos=1)
            sub = Subscription(client)
            try:
                yield sub
            finally:
                sub.close()
    except aiomqtt.MqttError as exc:
        raise BrokerUnavailable(str(exc)) from exc
