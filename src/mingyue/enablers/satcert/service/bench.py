"""Bench runs: a plan version against a sample, as a platform job with a live log.

``start_run`` checks the port (``sim``, a serial device, or an allow-listed ``socket://``) and
queues a ``satcert.run`` job; a repeated idempotency key answers the run it started (a reload
never starts a second one). The job runs the plan runner (``engine.plan.run_plan``) over the
transport, or over the simulated module on a pty pair, copying the dialogue into
``satcert_run_line`` as it goes (the console polls it); at the end it stores the raw log in the
core file store (its SHA-256 goes into the certificate), records the per-case results, reads
the terminal's identity (+CGSN, +CGMR, +CGMM), meters bench minutes and, for a surveillance
re-test of a certified terminal that fails, raises ``satcert.surveillance_failed``.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from mingyue.enablers.satcert.adapters.simport import SimPort
from mingyue.enablers.satcert.adapters.transport import check_port, open_transport
from mingyue.enablers.satcert.engine.link import ByteLink, LinkClosed
from mingyue.enablers.satcert.engine.plan import run_plan
from mingyue.enablers.satcert.engine.sim import FAULTS, SimConfig
from mingyue.enablers.satcert.models import SatcertRun, SatcertRunLine, SatcertSample
from mingyue.enablers.satcert.schemas import LogLine, RunIn, RunLog, RunOut
from mingyue.enablers.satcert.settings import options
from mingyue.sdk import (
    Actor,
    EvidenceRef,
    JobContext,
    UnitOfWork,
    check,
    enqueue,
    get_case,
    get_job,
    get_visible,
    now,
    observe_subject,
    raise_finding,
    record_usage,
    store_upload,
    transition,
)
from mingyue.sdk.errors import Conflict, Forbidden, InvalidInput, NotFound

from .plans import load_plan_row, parsed
from .review import active_certificate, subject_of

LIVE_LINES_MAX = 5000
LIVE_LINE_CHARS = 300
FLUSH_EVERY_S = 0.5


def start_run(*, uow: UnitOfWork, actor: Actor, body: RunIn) -> RunOut:
    """Queue a bench run of a plan version against a sample (idempotent per key)."""
    check(actor, "satcert.run.start")
    sample: SatcertSample = get_visible(uow, SatcertSample, body.sample_id, "satcert.read")
    check(actor, "satcert.run.start", sample)
    if body.idempotency_key:
        done = uow.session.scalars(
            select(SatcertRun).where(
                SatcertRun.organization_id == sample.organization_id,
                SatcertRun.idempotency_key == body.idempotency_key,
            )
        ).first()
        if done is not None:
            return RunOut.model_validate(done)
    plan = load_plan_row(uow, body.plan_id)
    port = body.port.strip()
    if port == "sim":
        fault = body.sim_fault or "none"
        if fault not in FAULTS:
            raise InvalidInput(
                "satcert.bad_fault", f"unknown fault; one of {', '.join(FAULTS)}", field="sim_fault"
            )
        transport = "sim" if fault == "none" else f"sim:{fault}"
    else:
        if body.sim_fault:
            raise InvalidInput(
                "satcert.bad_fault", "a fault is for the simulated module only", field="sim_fault"
            )
        check_port(port, options(uow.settings).lab_hosts)  # 422 before anything is queued
        transport = port
    if sample.case_id is None:
        raise Conflict("satcert.no_case", "the sample has no case")
    case = get_case(uow=uow, case_id=sample.case_id)
    if body.purpose == "surveillance":
        if active_certificate(uow, sample.id) is None:
            raise Conflict(
                "satcert.not_certified", "a surveillance re-test needs a valid certificate"
            )
    elif case.state == "intake":
        transition(uow=uow, case_id=case.id, name="start_testing", actor=actor)
        sample.status = "testing"
    elif case.state != "testing":
        raise Conflict(
            "satcert.not_testing",
            f"the sample's case is {case.state}: certification runs need intake or testing",
        )
    row = SatcertRun(
        organization_id=sample.organization_id,
        sample_id=sample.id,
        plan_id=plan.id,
        transport=transport,
        purpose=body.purpose,
        idempotency_key=body.idempotency_key,
        status="queued",
        started_by=actor.label(),
    )
    uow.session.add(row)
    uow.flush()
    job = enqueue(
        uow=uow,
        kind="satcert.run",
        params={"run_id": row.id},
        organization_id=sample.organization_id,
    )
    row.job_id = job.id
    uow.flush()
    uow.audit(
        "satcert.run.queued",
        f"satcert_run:{row.id}",
        {
            "sample_id": sample.id,
            "plan": f"{plan.key}@{plan.version}",
            "transport": transport,
            "purpose": body.purpose,
            "job_id": job.id,
        },
        organization_id=sample.organization_id,
    )
    return RunOut.model_validate(row)


def list_runs(*, uow: UnitOfWork, actor: Actor, sample_id: int | None = None) -> list[RunOut]:
    """Return the runs the actor may see (of one sample when given), newest first."""
    check(actor, "satcert.read")
    stmt = select(SatcertRun).order_by(SatcertRun.id.desc()).limit(500)
    if sample_id is not None:
        get_visible(uow, SatcertSample, sample_id, "satcert.read")
        stmt = stmt.where(SatcertRun.sample_id == sample_id)
    return [RunOut.model_validate(r) for r in uow.session.scalars(stmt)]


def get_run(*, uow: UnitOfWork, actor: Actor, run_id: int) -> RunOut:
    """Return one run (NotFound when absent or another organization's)."""
    check(actor, "satcert.read")
    return RunOut.model_validate(get_visible(uow, SatcertRun, run_id, "satcert.read"))


def run_log(*, uow: UnitOfWork, actor: Actor, run_id: int, after: int = 0) -> RunLog:
    """Return the live log lines after ``after`` and whether the run is over."""
    check(actor, "satcert.read")
    run: SatcertRun = get_visible(uow, SatcertRun, run_id, "satcert.read")
    rows = list(
        uow.session.scalars(
            select(SatcertRunLine)
            .where(SatcertRunLine.run_id == run.id, SatcertRunLine.seq > after)
            .order_by(SatcertRunLine.seq)
            .limit(500)
        )
    )
    progress = 0
    if run.job_id is not None:
        try:
            progress = int(get_job(uow=uow, actor=actor, job_id=run.job_id).progress or 0)
        except (NotFound, Forbidden):
            progress = 0
    done = run.status not in ("queued", "running")
    return RunLog(
        run_id=run.id,
        status=run.status,
        progress=100 if done else progress,
        lines=[LogLine(seq=r.seq, at=r.at, text=r.text) for r in rows],
        next=rows[-1].seq if rows else after,
        done=done and not rows,
    )


# -- the job ---------------------------------------------------------------------------------


class _LiveLog:
    """Lines of the dialogue, written to ``satcert_run_line`` in short units of work."""

    def __init__(self, ctx: JobContext, run_id: int, organization_id: int, sends: int) -> None:
        self.ctx, self.run_id, self.org = ctx, run_id, organization_id
        self.seq, self.last = 0, time.monotonic()
        self.pending: list[str] = []
        self.sends, self.sent = max(1, sends), 0
        self._rx = b""

    def line(self, text: str) -> None:
        if self.seq + len(self.pending) >= LIVE_LINES_MAX:
            return
        self.pending.append(text[:LIVE_LINE_CHARS])
        if self.seq + len(self.pending) == LIVE_LINES_MAX:
            self.pending.append("… (the rest is in the raw log)")
        if time.monotonic() - self.last >= FLUSH_EVERY_S:
            self.flush()

    def sent_bytes(self, data: bytes) -> None:
        text = data.decode("latin-1").strip()
        if text:
            self.sent += 1
            self.line(f">> {text}")
            self.ctx.progress(min(99, 100 * self.sent / self.sends), text[:80])

    def received(self, data: bytes) -> None:
        self._rx += data
        *lines, self._rx = self._rx.split(b"\n")
        for raw in lines:
            text = raw.decode("latin-1").strip()
            if text:
                self.line(f"<< {text}")
        if len(self._rx) > 4096:  # binary (UBX) or a line without end: show its size only
            self.line(f"<< [{len(self._rx)} bytes without a line end]")
            self._rx = b""

    def flush(self) -> None:
        self.last = time.monotonic()
        if not self.pending:
            return
        with self.ctx.unit_of_work() as uow:
            for text in self.pending:
                self.seq += 1
                uow.session.add(
                    SatcertRunLine(
                        organization_id=self.org, run_id=self.run_id, seq=self.seq, text=text
                    )
                )
        self.pending = []


class _LiveLink:
    """A byte link that copies its traffic into the live log and stops on cancellation."""

    def __init__(self, inner: ByteLink, live: _LiveLog, ctx: JobContext) -> None:
        self.inner, self.live, self.ctx = inner, live, ctx

    def write(self, data: bytes) -> None:
        self.ctx.raise_if_cancelled()
        self.inner.write(data)
        self.live.sent_bytes(data)

    def read(self, timeout: float) -> bytes:
        self.ctx.raise_if_cancelled()
        data = self.inner.read(timeout)
        if data:
            self.live.received(data)
        return data

    def close(self) -> None:
        self.inner.close()


def _sends(plan: Any) -> int:
    return sum(1 for c in plan.cases for s in c.steps if s.send is not None) or 1


def run_bench_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Run one queued bench run; record its verdicts, raw log, identity and usage."""
    run_id = params.get("run_id")
    if isinstance(run_id, bool) or not isinstance(run_id, int):
        raise ValueError("run_id must be an integer")
    with ctx.unit_of_work() as uow:
        run: SatcertRun = get_visible(uow, SatcertRun, run_id)
        plan = parsed(load_plan_row(uow, run.plan_id))
        opts = options(uow.settings)
        transport, org = run.transport, run.organization_id
        run.status, run.started_at = "running", now()
    live = _LiveLog(ctx, run_id, org, _sends(plan))
    started = time.monotonic()
    live.line(f"plan {plan.plan} {plan.version} · {transport}")
    sim: SimPort | None = None
    result_doc: dict[str, Any] | None = None
    blob = b""
    error: tuple[str, str] | None = None
    try:
        if transport.startswith("sim"):
            fault = transport.partition(":")[2] or "none"
            sim = SimPort(SimConfig(fault=fault))
            url = sim.start()
        else:
            url = transport
        link = open_transport(url, lab_hosts=opts.lab_hosts)
        result, blob = run_plan(
            plan,
            _LiveLink(link, live, ctx),
            max_log_bytes=opts.max_log_bytes,
            ttff_n=opts.ttff_resets,
        )
        result_doc = result.to_dict()
    except InvalidInput as exc:  # a port refused or gone since it was queued
        error = (exc.key, str(exc))
    except LinkClosed as exc:
        error = ("satcert.link_closed", f"the DUT link closed: {exc}")
    except OSError as exc:
        error = ("satcert.port_unavailable", f"the port cannot be opened: {exc}")
    except Exception as exc:
        # Cancelled, or a bench bug: the run says so, then the job fails with the message.
        live.flush()
        key = "satcert.cancelled" if ctx.cancelled() else "satcert.bench_error"
        _record(ctx, run_id, None, b"", (key, str(exc) or type(exc).__name__), started)
        raise
    finally:
        if sim is not None:
            sim.stop()
    live.flush()
    return _record(ctx, run_id, result_doc, blob, error, started)


def _record(
    ctx: JobContext,
    run_id: int,
    doc: dict[str, Any] | None,
    blob: bytes,
    error: tuple[str, str] | None,
    started: float,
) -> dict[str, Any]:
    minutes = Decimal(max(1, round(time.monotonic() - started))) / Decimal(60)
    with ctx.unit_of_work() as uow:
        run: SatcertRun = get_visible(uow, SatcertRun, run_id)
        sample = uow.session.get(SatcertSample, run.sample_id)
        if sample is None:  # a foreign key; kept for the type checker
            raise NotFound("satcert.sample_not_found", f"no sample {run.sample_id}")
        org = run.organization_id
        if blob:
            stored = store_upload(
                uow=uow,
                upload=blob,
                filename=f"satcert-run-{run.id}.jsonl",
                purpose="satcert.runlog",
                organization_id=org,
            )
            run.log_file_id, run.log_sha256, run.log_bytes = stored.id, stored.sha256, stored.size
        run.finished_at = now()
        if doc is not None:
            verdict = str(doc["verdict"])
            run.verdict = verdict
            run.status = {"pass": "passed", "fail": "failed"}.get(verdict, verdict)
            counts = doc.get("counts", {})
            run.results = list(doc.get("cases", []))
            run.summary = {
                "total": len(run.results),
                "passed": int(counts.get("pass", 0)),
                "counts": counts,
                "dut": doc.get("dut", {}),
                "figures": _figures(doc),
                "urc_count": doc.get("urc_count", 0),
                "urcs_dropped": doc.get("urcs_dropped", 0),
                "elapsed_s": doc.get("elapsed_s"),
                "plan_sha256": doc.get("plan_sha256"),
            }
            _identify(uow, sample, doc.get("dut") or {})
        else:
            key, text = error or ("satcert.bench_error", "the run ended without a result")
            run.status, run.verdict = (
                ("cancelled", None) if key == "satcert.cancelled" else ("error", "error")
            )
            run.error_key, run.error_text = key, text[:2000]
        uow.flush()
        ref = f"satcert_run:{run.id}"
        uow.audit(
            "satcert.run.finished",
            ref,
            {"status": run.status, "verdict": run.verdict, "log_sha256": run.log_sha256},
            organization_id=org,
        )
        at = now()
        record_usage(
            uow=uow,
            organization_id=org,
            meter="satcert.bench_minutes",
            quantity=minutes.quantize(Decimal("0.001")),
            unit="minute",
            start=run.started_at or at,
            end=at,
            source="satcert",
            ref=ref,
        )
        if run.purpose == "surveillance" and run.verdict in ("pass", "fail"):
            _surveillance(uow, run, sample)
        return {"run_id": run.id, "status": run.status, "verdict": run.verdict}


def _figures(doc: dict[str, Any]) -> dict[str, Any]:
    """Return the measured figures of a run (per case, the measures its limits judged)."""
    out: dict[str, Any] = {}
    for case in doc.get("cases", []):
        for check_ in case.get("checks", []):
            value = check_.get("value")
            if isinstance(value, (int, float, str)) and not isinstance(value, bool):
                out[f"{case['id']}.{check_['measure']}"] = value
    return dict(list(out.items())[:40])


def _identify(uow: UnitOfWork, sample: SatcertSample, dut: dict[str, Any]) -> None:
    imei, revision, model = dut.get("imei"), dut.get("revision"), dut.get("model")
    changed = {}
    if isinstance(imei, str) and imei and imei != sample.imei:
        changed["imei"] = sample.imei = imei[:20]
    if isinstance(revision, str) and revision and revision != sample.firmware:
        changed["firmware"] = sample.firmware = revision[:200]
    if isinstance(model, str) and model and model != sample.reported_model:
        changed["reported_model"] = sample.reported_model = model[:200]
    if changed:
        sample.identified_at = now()
        uow.flush()
        uow.audit(
            "satcert.sample.identified",
            f"satcert_sample:{sample.id}",
            {**changed, "declared_imei_matches": sample.declared_imei in (None, sample.imei)},
            organization_id=sample.organization_id,
        )


def _surveillance(uow: UnitOfWork, run: SatcertRun, sample: SatcertSample) -> None:
    evidence = [
        EvidenceRef(
            kind="satcert.run",
            ref=str(run.id),
            label=f"bench run #{run.id}",
            path=f"/satcert/runs/{run.id}",
            sha256=run.log_sha256,
        )
    ]
    subject = subject_of(sample)
    if run.verdict == "fail":
        raise_finding(
            uow=uow,
            organization_id=sample.organization_id,
            rule="satcert.surveillance_failed",
            subject=subject,
            evidence=evidence,
            detail={
                "run": run.id,
                "failed": [c["id"] for c in run.results if c.get("verdict") == "fail"][:20],
            },
        )
        uow.audit(
            "satcert.surveillance.failed",
            f"satcert_run:{run.id}",
            {"sample_id": sample.id},
            organization_id=sample.organization_id,
        )
    observe_subject(
        uow=uow,
        organization_id=sample.organization_id,
        enabler="satcert",
        subject=subject,
        present_rules=["satcert.surveillance_failed"] if run.verdict == "fail" else [],
        evidence=evidence,
    )
