"""The MQTT subscriber of ``mingyue serve`` (background service ``citygov.mqtt``).

Each web process runs ``run``. It claims a slot (a file lock in the data directory's ``run/``),
which gives it a client id that is the same after a restart (``<stem>-<slot>``), so the broker
keeps its persistent session (subscription and QoS 1 messages) while it is away. Without
``mqtt_shared_group`` only the process holding slot 0 subscribes, to ``city/#``, and the others
stand by to take over; with it every process subscribes to ``$share/<group>/city/#`` and the
broker splits the messages. Messages are taken in batches (up to ``BATCH`` or ``GATHER_S``),
stored in one transaction in a worker thread, then acknowledged: a message is acknowledged only
once it is stored (or refused and counted). When no broker answers, it retries with back-off
(1 s doubling to 30 s) and says so in the status that ``service.telemetry.mqtt_status`` reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import IO, Any

from mingyue.enablers.citygov.adapters.mqtt import BrokerUnavailable, parse_url, subscription
from mingyue.enablers.citygov.service import telemetry
from mingyue.enablers.citygov.settings import options
from mingyue.sdk import Settings, get_settings, now
from mingyue.sdk.errors import InvalidInput

log = logging.getLogger(__name__)

BATCH = 500
GATHER_S = 0.02
IDLE_MIRROR_S = 0.2  # with entities waiting to be mirrored, a quiet spell this long mirrors them
SLOTS = 32
BACKOFF_MAX_S = 30.0
STANDBY_POLL_S = 5.0
STATUS_EVERY_S = 2.0


class _Status:
    """The status file of this subscriber (written on changes and every few seconds)."""

    def __init__(self, settings: Settings, base: dict[str, Any]) -> None:
        self.settings, self.doc, self.written = settings, dict(base), 0.0

    def set(self, **changes: Any) -> None:
        self.doc.update(changes)
        self.write()

    def tick(self) -> None:
        if time.monotonic() - self.written >= STATUS_EVERY_S:
            self.write()

    def write(self) -> None:
        c = telemetry.ingestor(self.settings).counters
        self.doc.update(
            received=c.received, stored=c.stored, batches=c.batches, rejected=dict(c.rejected)
        )
        with contextlib.suppress(OSError):  # a status file we cannot write must not stop ingest
            telemetry.write_status(self.settings, self.doc)
        self.written = time.monotonic()


def _claim(settings: Settings, slot: int) -> IO[str] | None:
    path = Path(settings.data_dir) / "run" / f"citygov-mqtt-slot-{slot}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


async def _wait(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


async def _claim_slot(
    settings: Settings, shared: bool, stopping: asyncio.Event
) -> tuple[int, IO[str]] | None:
    """Claim slot 0 (single subscriber, waiting as standby) or the first free one (shared)."""
    while not stopping.is_set():
        for slot in range(SLOTS if shared else 1):
            fh = _claim(settings, slot)
            if fh is not None:
                return slot, fh
        await _wait(stopping, STANDBY_POLL_S)
    return None


def client_stem(settings: Settings) -> str:
    """Return the client id stem: the setting, or ``mingyue-<host name>``."""
    stem = options(settings).mqtt_client_id.strip()
    if not stem:
        host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:40] or "host"
        stem = f"mingyue-{host}"
    return stem


async def run(stopping: asyncio.Event) -> None:
    """Subscribe to the city topics and store what comes, until ``stopping`` is set."""
    settings = get_settings()
    opts = options(settings)
    if not opts.mqtt_url.strip():
        return  # switched off
    try:
        address = parse_url(opts.mqtt_url)
    except InvalidInput as exc:
        log.error("citygov MQTT subscriber off: %s", exc.message)
        return
    shared = bool(opts.mqtt_shared_group)
    topic = f"$share/{opts.mqtt_shared_group}/city/#" if shared else "city/#"
    claimed = await _claim_slot(settings, shared, stopping)
    if claimed is None:
        return
    slot, lock = claimed
    client_id = f"{client_stem(settings)}-{slot}"
    status = _Status(
        settings,
        {
            "state": "connecting",
            "url": address.display(),
            "topic": topic,
            "client_id": client_id,
            "pid": os.getpid(),
            "since": now().isoformat(),
            "last_error": None,
        },
    )
    backoff = 1.0
    try:
        while not stopping.is_set():
            status.set(state="connecting")
            try:
                async with subscription(address, client_id=client_id, topic=topic) as sub:
                    backoff = 1.0
                    status.set(state="connected", since=now().isoformat(), last_error=None)
                    log.info("citygov MQTT subscriber %s on %s", client_id, address.display())
                    ing = telemetry.ingestor(settings)
                    while not stopping.is_set():
                        wait = IDLE_MIRROR_S if ing.pending else 0.5
                        batch = await sub.batch(max_n=BATCH, first_wait_s=wait, gather_s=GATHER_S)
                        if batch:
                            at = now()
                            incoming = [telemetry.Incoming(m.topic, m.payload, at) for m in batch]
                            await asyncio.to_thread(telemetry.store_batch, settings, incoming)
                            sub.ack(batch)
                        elif ing.pending:
                            await asyncio.to_thread(telemetry.mirror_pending, settings)
                        status.tick()
            except BrokerUnavailable as exc:
                status.set(state="down", last_error=str(exc)[:200], since=now().isoformat())
                log.warning("citygov MQTT broker %s unavailable: %s", address.display(), exc)
            except Exception as exc:
                # a storage failure: leave the session so the broker sends the unacked messages
                # again after the back-off instead of losing them
                status.set(state="down", last_error=f"{type(exc).__name__}: {exc}"[:200])
                log.exception("citygov MQTT batch failed; reconnecting in %.0f s", backoff)
            await _wait(stopping, backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
    finally:
        status.set(state="off")
        lock.close()
