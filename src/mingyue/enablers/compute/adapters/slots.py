"""Reservation slots: an interactive time slot on a node, as a small record file per slot.

A reservation holds capacity for its whole slot whether the tenant uses it or not, so its
state follows the clock: ``reserved`` (before the start: engine state ``queued``) → ``active``
(``running``) → ``ended`` (``succeeded``, the slot's seconds); cancelling before the end gives
``cancelled`` with the seconds already held (none before the start). The local pool keeps its
slots only here; the Slurm adapter keeps one beside each real Slurm reservation, so it still
knows the slot after Slurm purged the ended reservation. Records are written by rename, so a
reader never sees half a file, and survive a restart of the platform.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mingyue.enablers.compute.engine.states import EngineStatus, JobState, Usage
from mingyue.sdk.errors import Conflict, InvalidInput

from .base import finished_error

PREFIX = "resv:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def is_reservation(engine_id: str) -> bool:
    """Say whether an engine id names a reservation slot (``resv:NAME``)."""
    return engine_id.startswith(PREFIX)


def slot_name(engine_id: str) -> str:
    """Return the slot name inside a ``resv:NAME`` engine id (validated: no paths)."""
    name = engine_id.removeprefix(PREFIX)
    if not _NAME.match(name):
        raise InvalidInput(
            "compute.job_id_invalid", f"bad reservation id {engine_id!r}", field="job_id"
        )
    return name


@dataclass(frozen=True, slots=True)
class Slot:
    """One reserved slot: when, how many CPUs, and how a tenant uses it."""

    name: str
    start: datetime
    end: datetime
    cpus: int
    use: str
    cancelled_at: datetime | None = None

    def status(self, now: datetime) -> EngineStatus:
        """Return the slot's state at ``now`` with the seconds it held (billed once ended)."""
        tres = {"cpu": str(self.cpus)}
        if self.cancelled_at is not None:
            stop = min(max(self.cancelled_at, self.start), self.end)
            # a started second counts, as for jobs: a slot cancelled 0.4 s into it held 1 s
            held = math.ceil((stop - self.start) / timedelta(seconds=1))
            when = "before its start" if held == 0 else f"after {held} s of the slot"
            return EngineStatus(
                JobState.CANCELLED,
                f"reservation cancelled {when}",
                self.start if held else None,
                self.cancelled_at,
                None,
                held,
                tres,
            )
        if now < self.start:
            return EngineStatus(
                JobState.QUEUED,
                f"reserved {self.start.isoformat()} – {self.end.isoformat()}; {self.use}",
                tres=tres,
            )
        if now < self.end:
            return EngineStatus(
                JobState.RUNNING,
                f"active until {self.end.isoformat()}; {self.use}",
                self.start,
                tres=tres,
            )
        seconds = int((self.end - self.start).total_seconds())
        return EngineStatus(
            JobState.SUCCEEDED, "reservation ended", self.start, self.end, None, seconds, tres
        )


class SlotStore:
    """Slot records in one directory (one JSON file per slot)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self.root / f"{slot_name(PREFIX + name)}.json"

    def _write(self, name: str, data: dict[str, Any]) -> None:
        path = self._path(name)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, path)

    def create(self, name: str, start: datetime, end: datetime, cpus: int, use: str) -> Slot:
        """Record a new slot; a second slot of the same name is refused."""
        if self._path(name).exists():
            raise Conflict("compute.job_exists", f"reservation {name} already exists", job_id=name)
        self._write(
            name,
            {
                "start": start.astimezone(UTC).isoformat(),
                "end": end.astimezone(UTC).isoformat(),
                "cpus": cpus,
                "use": use,
            },
        )
        return Slot(name, start, end, cpus, use)

    def get(self, name: str) -> Slot | None:
        """Return the slot, or None when there is no such record."""
        try:
            data = json.loads(self._path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        cancelled = data.get("cancelled_at")
        return Slot(
            name,
            datetime.fromisoformat(data["start"]),
            datetime.fromisoformat(data["end"]),
            int(data["cpus"]),
            str(data["use"]),
            datetime.fromisoformat(cancelled) if cancelled else None,
        )

    def cancel(self, name: str, at: datetime) -> Slot:
        """Mark the slot cancelled at ``at`` (kept: its held seconds are still billed)."""
        slot = self.get(name)
        if slot is None:
            raise InvalidInput("compute.job_unknown", f"no reservation {name}", field="job_id")
        data = {
            "start": slot.start.isoformat(),
            "end": slot.end.isoformat(),
            "cpus": slot.cpus,
            "use": slot.use,
            "cancelled_at": at.astimezone(UTC).isoformat(),
        }
        self._write(name, data)
        return self.get(name) or slot


def slot_status(
    store: SlotStore, engine_id: str, now: datetime | None = None
) -> EngineStatus | None:
    """Return a slot's state from its record (None when there is no record)."""
    slot = store.get(slot_name(engine_id))
    return None if slot is None else slot.status(now or datetime.now(UTC))


def slot_cancel(store: SlotStore, engine_id: str) -> EngineStatus:
    """Cancel a slot that has not ended; an ended one gets the clear 'already ended' error."""
    st = slot_status(store, engine_id)
    if st is None:
        raise InvalidInput("compute.job_unknown", f"no reservation {engine_id}", field="job_id")
    if st.state.terminal:
        raise finished_error(engine_id, st.state.value)
    now = datetime.now(UTC)
    return store.cancel(slot_name(engine_id), now).status(now)


def slot_usage(store: SlotStore, engine_id: str) -> Usage | None:
    """Return the seconds a slot has held so far (None before its start)."""
    slot = store.get(slot_name(engine_id))
    if slot is None:
        return None
    now = datetime.now(UTC)
    st = slot.status(now)
    if st.started_at is None:
        return None
    seconds = st.seconds if st.seconds is not None else int((now - slot.start).total_seconds())
    return Usage(
        seconds=seconds,
        started_at=st.started_at,
        ended_at=st.ended_at,
        cpus=slot.cpus,
        tres=st.tres,
        source="reservation slot record",
    )
