"""Test plans as data (YAML, versioned) and the runner that turns one into per-case verdicts.

A plan (``schema: satcert-plan/1``) lists cases; each names the standard clause it implements,
its title (``title``, and optionally ``title_zh`` for the console and certificates in Chinese),
its steps (``send``/``wait``/``reset``/``collect_nmea``/``ttff``), the limits its measures must
meet, a tolerance per limit and a verdict rule:

- ``simple`` (ILAC-G8:2019 §4.2.1, simple acceptance): pass within the limit widened by the
  tolerance, fail outside it;
- ``guard_band`` (ILAC-G8:2019 §4.2.3): pass within the limit narrowed by the tolerance, fail
  outside the limit widened by it, inconclusive in between.

Case verdicts (after TTCN-3's): ``pass``; ``fail`` — the DUT answered wrongly, too late (a
command timeout) or outside a limit; ``error`` — the bench lost the DUT (connection dropped) or
the raw log outgrew its cap; ``inconclusive`` — not judged (a guard band, or a ``required`` case
before it did not pass). The run's verdict is the worst: fail > error > inconclusive > pass.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mingyue.enablers.satcert.engine import at_parse
from mingyue.enablers.satcert.engine.at import AtEngine, AtResponse, command_prefix
from mingyue.enablers.satcert.engine.link import ByteLink, Clock, LoggedLink, RawLog
from mingyue.enablers.satcert.engine.nmea import read_fixes
from mingyue.enablers.satcert.engine.ttff import QUECTEL_RESET, run_ttff, ubx_cfg_rst
from mingyue.sdk.errors import InvalidInput

Verdict = Literal["pass", "fail", "error", "inconclusive"]
PLAN_SCHEMA = "satcert-plan/1"
MAX_PLAN_BYTES = 256 * 1024
_RANK = {"pass": 0, "inconclusive": 1, "error": 2, "fail": 3}
IDENTITY_FIELDS = ("manufacturer", "model", "revision", "imei")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TtffStep(_Strict):
    mode: Literal["cold", "warm", "hot"]
    n: int | None = Field(None, ge=1, le=1000)
    timeout_s: float = Field(120.0, gt=0, le=3600)
    method: Literal["at", "ubx"] = "at"


class Step(_Strict):
    """One step: exactly one of send, wait, reset, collect_nmea, ttff."""

    send: str | None = Field(None, min_length=2, max_length=512)
    expect: Literal["OK", "ERROR", "CME", "any"] = "OK"
    timeout_s: float | None = Field(None, gt=0, le=600)
    parse: Literal["text", "imei", "registration", "csq", "cesq", "cgdcont", "cgact"] | None = None
    capture: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]{0,39}$")
    wait: float | None = Field(None, ge=0, le=600)
    reset: Literal["cold", "warm", "hot"] | None = None
    method: Literal["at", "ubx"] = "at"
    collect_nmea: float | None = Field(None, gt=0, le=600)
    ttff: TtffStep | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [
            k
            for k in ("send", "wait", "reset", "collect_nmea", "ttff")
            if getattr(self, k) is not None
        ]
        if len(kinds) != 1:
            raise ValueError(
                f"a step has exactly one of send/wait/reset/collect_nmea/ttff, got {kinds or 'none'}"
            )
        if self.send is not None and not re.fullmatch(r"(?i)AT[\x20-\x7e]*", self.send):
            raise ValueError(f"send must be a printable AT command line: {self.send!r}")
        return self


class Limit(_Strict):
    min: float | None = None
    max: float | None = None
    equals: bool | int | str | None = None
    one_of: list[int | str] | None = Field(None, alias="in")
    contains: list[int | str] | None = None
    tolerance: float = Field(0.0, ge=0)


class Case(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    title: str = Field(min_length=1, max_length=200)
    title_zh: str | None = Field(None, min_length=1, max_length=200)  # the title in Chinese
    clause: str = Field(min_length=3, max_length=300)
    steps: list[Step] = Field(min_length=1, max_length=100)
    limits: dict[str, Limit] = Field(default_factory=dict)
    verdict: Literal["simple", "guard_band"] = "simple"
    required: bool = False

    def titles(self) -> dict[str, str]:
        """Return the title in both languages (the plan's own where it gives no Chinese)."""
        return {"zh": self.title_zh or self.title, "en": self.title}


class Plan(_Strict):
    schema_: Literal["satcert-plan/1"] = Field(alias="schema")
    plan: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    version: str = Field(pattern=r"^\d+\.\d+(\.\d+)?$")
    title: str = Field(min_length=1, max_length=200)
    title_zh: str | None = Field(None, min_length=1, max_length=200)
    timeout_s: float = Field(5.0, gt=0, le=600)
    reset_commands: dict[str, str] = Field(default_factory=lambda: dict(QUECTEL_RESET))
    cases: list[Case] = Field(min_length=1, max_length=500)
    sha256: str = ""

    @model_validator(mode="after")
    def _unique_ids(self) -> Plan:
        ids = [c.id for c in self.cases]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"duplicate case ids: {', '.join(dup)}")
        return self


def load_plan(text: str | bytes) -> Plan:
    """Parse and validate a YAML plan; InvalidInput (one line) on any mistake."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_PLAN_BYTES:
        raise InvalidInput("satcert.bad_plan", f"plan larger than {MAX_PLAN_BYTES} bytes")
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput("satcert.bad_plan", "plan is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        where = ""
        if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
            where = f" at line {exc.problem_mark.line + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput("satcert.bad_plan", f"plan is not YAML: {problem}{where}") from None
    if not isinstance(data, dict):
        raise InvalidInput("satcert.bad_plan", "plan must be a YAML mapping")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "plan"
        raise InvalidInput("satcert.bad_plan", f"plan {loc}: {err['msg']}", field=loc) from None
    return plan.model_copy(update={"sha256": hashlib.sha256(raw).hexdigest()})


# -- results ---------------------------------------------------------------------------------
@dataclass
class Check:
    """One limit applied to one measure."""

    measure: str
    value: Any
    limit: dict[str, Any]
    verdict: Verdict


@dataclass
class CaseResult:
    """The verdict of one case with what led to it."""

    id: str
    title: str
    clause: str
    verdict: Verdict = "pass"
    reasons: list[str] = field(default_factory=list)
    measures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0

    def worsen(self, verdict: Verdict, reason: str) -> None:
        """Record a reason and keep the worse verdict."""
        self.reasons.append(reason)
        if _RANK[verdict] > _RANK[self.verdict]:
            self.verdict = verdict


@dataclass
class RunResult:
    """A plan run: per-case verdicts, DUT identity, and the raw log's digest."""

    plan: str
    plan_version: str
    plan_sha256: str
    started_at: str
    verdict: Verdict
    dut: dict[str, str | None]
    cases: list[CaseResult]
    log_sha256: str
    log_bytes: int
    urc_count: int
    urcs_dropped: int
    elapsed_s: float
    timings: list[tuple[str, str, float]]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready result (what ``mingyue satcert run --json`` prints)."""
        counts = {v: sum(1 for c in self.cases if c.verdict == v) for v in _RANK}
        return {
            "plan": self.plan,
            "plan_version": self.plan_version,
            "plan_sha256": self.plan_sha256,
            "started_at": self.started_at,
            "verdict": self.verdict,
            "counts": counts,
            "dut": self.dut,
            "cases": [
                {
                    "id": c.id,
                    "title": c.title,
                    "clause": c.clause,
                    "verdict": c.verdict,
                    "reasons": c.reasons,
                    "measures": c.measures,
                    "checks": [vars(ch) for ch in c.checks],
                    "elapsed_s": round(c.elapsed_s, 6),
                }
                for c in self.cases
            ],
            "log_sha256": self.log_sha256,
            "log_bytes": self.log_bytes,
            "urc_count": self.urc_count,
            "urcs_dropped": self.urcs_dropped,
            "elapsed_s": round(self.elapsed_s, 6),
            "timings": [{"command": c, "status": s, "elapsed_s": e} for c, s, e in self.timings],
        }


def judge(value: Any, limit: Limit, rule: str) -> Verdict:
    """Apply one limit to one measured value under the case's verdict rule."""
    if value is None:
        return "fail"
    if limit.equals is not None and value != limit.equals:
        return "fail"
    if limit.one_of is not None and value not in limit.one_of:
        return "fail"
    if limit.contains is not None:
        have = set(value) if isinstance(value, (list, tuple, set, dict)) else set()
        if not set(limit.contains) <= have:  # list of ints or strings, same kind as the measure
            return "fail"
    if limit.min is None and limit.max is None:
        return "pass"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "fail"
    tol = limit.tolerance
    lo = limit.min if limit.min is not None else float("-inf")
    hi = limit.max if limit.max is not None else float("inf")
    if not lo - tol <= value <= hi + tol:
        return "fail"
    if rule == "guard_band" and not lo + tol <= value <= hi - tol:
        return "inconclusive"
    return "pass"


# -- runner ----------------------------------------------------------------------------------
class _LogFull(Exception):
    """The raw log reached its cap."""


@dataclass
class _Run:
    plan: Plan
    engine: AtEngine
    log: RawLog
    ttff_n: int
    dut: dict[str, str | None]


def _response_step(resp: AtResponse) -> dict[str, Any]:
    return {
        "send": resp.command,
        "status": resp.status,
        "final": resp.final,
        "elapsed_s": round(resp.elapsed_s, 6),
        "urcs": len(resp.urcs),
    }


def _parse(kind: str, resp: AtResponse, capture: str | None) -> dict[str, Any]:
    """Turn an answer into measures (ValueError: the DUT's answer is malformed)."""
    lines = list(resp.lines)
    if kind == "text":
        return {capture or "text": at_parse.parse_text(lines, command_prefix(resp.command) or "")}
    if kind == "imei":
        return {capture or "imei": at_parse.parse_imei(lines), "imei_luhn": True}
    if kind == "registration":
        prefix = command_prefix(resp.command) or ""
        own = [ln for ln in lines if ln.upper().startswith(prefix + ":")]
        if len(own) != 1:
            raise ValueError(f"expected one {prefix} line, got {len(own)}")
        reg = at_parse.parse_registration(own[0])
        return {
            "stat": reg.stat,
            "registered": reg.registered,
            "act": reg.act,
            "act_name": reg.act_name,
            "ntn": reg.ntn,
        }
    if kind == "csq":
        csq = at_parse.parse_csq(lines)
        return {"rssi": csq.rssi, "ber": csq.ber, "rssi_dbm": csq.rssi_dbm}
    if kind == "cesq":
        cesq = at_parse.parse_cesq(lines)
        return {"rsrp_dbm": cesq.rsrp_dbm, "rsrq_db": cesq.rsrq_db}
    if kind == "cgdcont":
        ctx = at_parse.parse_cgdcont(lines)
        return {"pdp_cids": [c.cid for c in ctx], "pdp_apns": [c.apn for c in ctx]}
    active = at_parse.parse_cgact(lines)
    return {"active_cids": sorted(cid for cid, on in active.items() if on)}


def _send(run: _Run, step: Step, result: CaseResult) -> bool:
    assert step.send is not None  # noqa: S101 - checked by Step
    resp = run.engine.command(step.send, timeout_s=step.timeout_s or run.plan.timeout_s)
    result.steps.append(_response_step(resp))
    if resp.status == "closed":
        result.worsen("error", f"{step.send}: the DUT closed the connection")
        return False
    if resp.status == "timeout":
        timeout = step.timeout_s or run.plan.timeout_s
        result.worsen("fail", f"{step.send}: no final result code within {timeout:g} s (timeout)")
        return False
    wanted = step.expect
    got_cme = resp.final.upper().startswith(("+CME ERROR", "+CMS ERROR"))
    good = (
        wanted == "any"
        or (wanted == "OK" and resp.ok)
        or (wanted == "ERROR" and resp.status == "error")
        or (wanted == "CME" and got_cme)
    )
    if not good:
        result.worsen("fail", f"{step.send}: expected {wanted}, got {resp.final}")
        return False
    if step.parse and resp.ok:
        try:
            measures = _parse(step.parse, resp, step.capture)
        except ValueError as exc:
            result.worsen("fail", f"{step.send}: {exc}")
            return False
        result.measures.update(measures)
        for key in IDENTITY_FIELDS:
            if step.capture == key and key in measures:
                run.dut[key] = str(measures[key])
    return True


def _collect_nmea(run: _Run, seconds: float, result: CaseResult) -> None:
    engine = run.engine
    before = engine.nmea_count
    engine.poll(seconds)
    fresh = engine.nmea_count - before
    lines = list(engine.nmea)[-fresh:] if fresh > 0 else []
    blob = b"".join(ln.text.encode("ascii", "replace") + b"\r\n" for ln in lines)
    fixes, report = read_fixes(blob, "certification")
    result.steps.append({"collect_nmea": seconds, "sentences": fresh, "kept": len(lines)})
    result.measures.update(
        {
            "nmea_sentences": report.sentences,
            "nmea_accepted": report.accepted,
            "nmea_passed": report.passed,
            "nmea_rejected": dict(report.rejected_sentences),
            "nmea_types": sorted(report.by_type),
            "nmea_talkers": sorted(report.by_talker),
            "nmea_fixes": len(fixes),
        }
    )
    if fresh > len(lines):
        result.worsen("inconclusive", f"{fresh - len(lines)} NMEA sentences outgrew the buffer")


def _run_step(run: _Run, step: Step, result: CaseResult) -> bool:
    engine = run.engine
    if step.send is not None:
        return _send(run, step, result)
    if step.wait is not None:
        engine.poll(step.wait)
        result.steps.append({"wait": step.wait})
        return not engine.closed
    if step.reset is not None:
        run.log.event(f"reset {step.reset} via {step.method}")
        if step.method == "ubx":
            engine.link.write(ubx_cfg_rst(step.reset))
            return True
        return _send(run, Step(send=run.plan.reset_commands[step.reset]), result)
    if step.collect_nmea is not None:
        _collect_nmea(run, step.collect_nmea, result)
        return not engine.closed
    assert step.ttff is not None  # noqa: S101 - checked by Step
    t = step.ttff
    stats = run_ttff(
        engine,
        t.mode,
        t.n or run.ttff_n,
        method=t.method,
        at_commands=run.plan.reset_commands,
        timeout_s=t.timeout_s,
    )
    result.steps.append({"ttff": stats.to_dict()})
    result.measures.update(
        {
            "ttff_n": stats.n,
            "ttff_fixes": stats.fixes,
            "ttff_timeouts": stats.timeouts,
            "ttff_median_s": stats.median_s,
            "ttff_p95_s": stats.p95_s,
        }
    )
    if any(tr.status == "closed" for tr in stats.trials):
        result.worsen("error", "the DUT closed the connection during the TTFF campaign")
        return False
    if any(tr.status == "reset_failed" for tr in stats.trials):
        result.worsen("fail", f"the DUT refused the {t.mode} reset command")
        return False
    return True


def _run_case(run: _Run, case: Case) -> CaseResult:
    result = CaseResult(case.id, case.title, case.clause)
    t0 = run.engine.now()
    run.log.event(f"case {case.id} start")
    for step in case.steps:
        if run.engine.closed:
            result.worsen("error", "the DUT closed the connection")
            break
        ok = _run_step(run, step, result)
        if run.log.dropped_bytes:
            raise _LogFull
        if not ok:
            break
    if result.verdict == "pass":
        for name, limit in case.limits.items():
            if name not in result.measures:
                result.worsen("error", f"plan error: no measure {name!r} in this case")
                continue
            value = result.measures[name]
            verdict = judge(value, limit, case.verdict)
            result.checks.append(
                Check(name, value, limit.model_dump(exclude_none=True, by_alias=True), verdict)
            )
            if verdict != "pass":
                result.worsen(
                    verdict,
                    f"{name}={value!r} against {limit.model_dump(exclude_none=True, by_alias=True)}",
                )
    result.elapsed_s = run.engine.now() - t0
    run.log.event(f"case {case.id} {result.verdict}")
    return result


def run_plan(
    plan: Plan,
    link: ByteLink,
    *,
    clock: Clock = time.monotonic,
    max_log_bytes: int = 8 * 1024 * 1024,
    ttff_n: int = 10,
    max_urcs: int = 1000,
) -> tuple[RunResult, bytes]:
    """Run every case of ``plan`` over ``link``; return the result and the raw log bytes."""
    started = datetime.now(UTC).isoformat()
    log = RawLog(clock=clock, max_bytes=max_log_bytes, started_at=started)
    engine = AtEngine(
        LoggedLink(link, log), clock=clock, default_timeout_s=plan.timeout_s, max_urcs=max_urcs
    )
    run = _Run(plan, engine, log, ttff_n, dict.fromkeys(IDENTITY_FIELDS))
    log.event(f"plan {plan.plan} {plan.version} sha256={plan.sha256}")
    results: list[CaseResult] = []
    blocked: str | None = None
    blocked_verdict: Verdict = "inconclusive"
    for case in plan.cases:
        if blocked is not None:
            res = CaseResult(case.id, case.title, case.clause)
            res.worsen(blocked_verdict, blocked)
            results.append(res)
            continue
        try:
            res = _run_case(run, case)
        except _LogFull:
            res = CaseResult(case.id, case.title, case.clause)
            res.worsen(
                "error", f"raw log reached its cap of {max_log_bytes} bytes (satcert.log_too_large)"
            )
            blocked, blocked_verdict = (
                "not run: the raw log reached its cap (satcert.log_too_large)",
                "error",
            )
        results.append(res)
        if blocked is None and case.required and res.verdict != "pass":
            blocked_verdict = "error" if res.verdict == "error" else "inconclusive"
            blocked = f"not run: required case {case.id} did not pass"
    verdict: Verdict = max((r.verdict for r in results), key=lambda v: _RANK[v])
    elapsed = engine.now()
    link.close()
    blob = log.to_bytes()
    result = RunResult(
        plan=plan.plan,
        plan_version=plan.version,
        plan_sha256=plan.sha256,
        started_at=started,
        verdict=verdict,
        dut=run.dut,
        cases=results,
        log_sha256=hashlib.sha256(blob).hexdigest(),
        log_bytes=len(blob),
        urc_count=engine.urc_count,
        urcs_dropped=engine.urcs_dropped,
        elapsed_s=elapsed,
        timings=[(c, s, round(e, 6)) for c, s, e in engine.timings],
    )
    return result, blob
