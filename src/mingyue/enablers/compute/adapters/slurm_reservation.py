"""Interactive reservations on Slurm: a real ``scontrol create reservation`` per slot.

The tenant uses the slot with ``srun --reservation=NAME --pty bash`` or
``salloc --reservation=NAME`` on the cluster, as the pool's ``reservation_users`` account.
State follows Slurm: ``INACTIVE`` → reserved, ``ACTIVE`` → active, purged after its end →
ended. Cancelling deletes the reservation (jobs still running in it are cancelled first).
Creating and deleting reservations needs a Slurm operator (root or ``SlurmUser`` here).

Slurm reserves whole minutes, so the matcher only offers Slurm pools slots of whole minutes;
the billed seconds are the slot Slurm holds (its StartTime to EndTime), or, when someone
deleted it inside Slurm, up to the deletion (slurmdbd's record via ``sacctmgr``, when there).
"""

from __future__ import annotations

import getpass
import time
from datetime import UTC, datetime, timedelta

from mingyue.enablers.compute.engine.spec import JobSpec
from mingyue.enablers.compute.engine.states import EngineStatus, JobState, Usage
from mingyue.sdk.errors import InvalidInput

from .base import finished_error
from .slots import PREFIX, SlotStore, slot_name, slot_usage
from .slurm_cli import SlurmCli, parse_kv_line, parse_slurm_time


def use_text(name: str) -> str:
    """Say how a tenant uses the reservation on the cluster."""
    return f"use: srun --reservation={name} --pty bash (or salloc --reservation={name})"


def _show(ad: SlurmCli, name: str) -> dict[str, str] | None:
    out = ad._run(["scontrol", "show", "reservation", name, "-o"])
    if out.returncode != 0 or not out.stdout.strip():
        if "not found" in (out.stdout + out.stderr):
            return None
        raise InvalidInput(
            "compute.slurm_rejected",
            f"scontrol show reservation failed: {out.stderr.strip()[:300]}",
            field="job_id",
        )
    return parse_kv_line(out.stdout.strip().splitlines()[0])


def reserve(ad: SlurmCli, store: SlotStore, job_id: str, spec: JobSpec) -> str:
    """Create the Slurm reservation for a ``reservation:`` spec; return ``resv:NAME``."""
    r = spec.reservation
    if r is None:  # pragma: no cover - the caller checks
        raise InvalidInput("compute.spec_invalid", "not a reservation", field="reservation")
    if r.duration_s % 60:
        raise InvalidInput(
            "compute.slurm_reservation_minutes",
            "reservation.duration_s: Slurm reserves whole minutes",
            field="reservation.duration_s",
        )
    if spec.gpus.count:
        raise InvalidInput(
            "compute.slurm_reservation_gpus",
            "GPU reservations on Slurm pools are not supported yet",
            field="gpus",
        )
    name = f"mingyue-{job_id}"
    now = datetime.now(UTC)
    # Slurm reads a zone-less local time (this host is the controller, as for job times).
    start = "now" if r.start <= now else r.start.astimezone().strftime("%Y-%m-%dT%H:%M:%S")
    args = [
        "scontrol",
        "create",
        "reservation",
        f"ReservationName={name}",
        f"StartTime={start}",
        f"Duration={r.duration_s // 60}",
        "NodeCnt=1",
        f"CoreCnt={spec.cpus}",
        f"Users={ad.reservation_users or getpass.getuser()}",
    ]
    if ad.partition:
        args.append(f"PartitionName={ad.partition}")
    out = ad._run(args)
    if out.returncode != 0:
        msg = " ".join((out.stdout + " " + out.stderr).split())
        raise InvalidInput(
            "compute.slurm_rejected",
            f"Slurm refused the reservation: {msg[:500]}",
            field="reservation",
        )
    rec = _show(ad, name) or {}
    s = parse_slurm_time(rec.get("StartTime")) or r.start
    e = parse_slurm_time(rec.get("EndTime")) or s
    store.create(name, s, e, spec.cpus, use_text(name))
    return PREFIX + name


def find(ad: SlurmCli, store: SlotStore, name: str) -> str | None:
    """Return ``resv:NAME`` when this adapter created that reservation: its slot record, or
    (the platform stopped between Slurm's answer and the record) Slurm's own, recorded now."""
    if store.get(name) is not None:
        return PREFIX + name
    rec = _show(ad, name)
    if rec is None:
        return None
    s = parse_slurm_time(rec.get("StartTime"))
    e = parse_slurm_time(rec.get("EndTime"))
    if s is None or e is None:
        return None
    store.create(name, s, e, int(rec.get("CoreCnt") or 1), use_text(name))
    return PREFIX + name


def _deleted_at(ad: SlurmCli, name: str) -> datetime | None:
    """Return when slurmdbd saw the reservation end (``sacctmgr show reservation``)."""
    if not ad.has_sacct:
        return None
    out = ad._run(
        [
            "sacctmgr",
            "-n",
            "-P",
            "show",
            "reservation",
            "where",
            f"names={name}",
            "format=Name,TimeStart,TimeEnd",
        ]
    )
    rows = [ln.split("|") for ln in out.stdout.splitlines() if ln.startswith(name + "|")]
    return parse_slurm_time(rows[-1][2]) if out.returncode == 0 and rows else None


def status(ad: SlurmCli, store: SlotStore, engine_id: str) -> EngineStatus | None:
    """Return the reservation's state from Slurm, its record once Slurm purged it."""
    name = slot_name(engine_id)
    slot = store.get(name)
    if slot is None:
        return None
    now = datetime.now(UTC)
    if slot.cancelled_at is not None:
        return slot.status(now)
    rec = _show(ad, name)
    if rec is not None:  # Slurm's state wins over this host's clock
        tick = timedelta(microseconds=1)
        if rec.get("State") == "ACTIVE":
            return slot.status(min(max(now, slot.start), slot.end - tick))
        return slot.status(slot.start - tick)
    if now >= slot.end:
        return slot.status(now)  # Slurm purged it at its end: the slot ended
    # Gone before its end, and not by us: an operator deleted it inside Slurm.
    gone = _deleted_at(ad, name) or now
    held = max(int((min(gone, slot.end) - slot.start).total_seconds()), 0)
    return EngineStatus(
        JobState.CANCELLED,
        "reservation deleted inside Slurm",
        slot.start if held else None,
        gone,
        None,
        held,
        {"cpu": str(slot.cpus)},
    )


def cancel(ad: SlurmCli, store: SlotStore, engine_id: str) -> EngineStatus:
    """Delete the Slurm reservation (cancelling its jobs first); bill the seconds held."""
    name = slot_name(engine_id)
    st = status(ad, store, engine_id)
    if st is None:
        raise InvalidInput(
            "compute.job_unknown", f"Slurm does not know reservation {name}", field="job_id"
        )
    if st.state.terminal:
        raise finished_error(engine_id, st.state.value)
    at = datetime.now(UTC)
    slot = store.get(name)
    if st.state is JobState.RUNNING and slot is not None and at <= slot.start:
        # Slurm may activate a reservation before its StartTime (seen here: ACTIVE, and a job
        # step ran inside it, before that time): it was held, so its first second counts
        at = slot.start + timedelta(microseconds=1)
    out = ad._run(["scontrol", "delete", f"ReservationName={name}"])
    if out.returncode != 0 and "not found" not in out.stderr:
        # Slurm will not delete a reservation that still has jobs: stop them, then retry.
        jobs = ad._run(["squeue", "-h", "-R", name, "-o", "%i"]).stdout.split()
        if jobs:
            ad._run(["scancel", *jobs])
        for _ in range(50):
            out = ad._run(["scontrol", "delete", f"ReservationName={name}"])
            if out.returncode == 0 or "not found" in out.stderr:
                break
            time.sleep(0.2)
        else:
            raise InvalidInput(
                "compute.slurm_rejected",
                f"Slurm did not delete the reservation: {out.stderr.strip()[:300]}",
                field="job_id",
            )
    return store.cancel(name, at).status(at)


def usage(store: SlotStore, engine_id: str) -> Usage | None:
    """Return the seconds the slot has held so far."""
    return slot_usage(store, engine_id)
