"""Run an evaluation against an endpoint, keep its records in the data dir, and record it on the
platform (a row, a signed evaluation report, an audit entry, usage) for a signed-in organization."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from mingyue.enablers.modeleval.adapters.cache import DiskCache
from mingyue.enablers.modeleval.adapters.openai_compat import KeyTransport, OpenAICompatible
from mingyue.enablers.modeleval.engine.config import SCORINGS
from mingyue.enablers.modeleval.engine.items import Probe, load_items, load_probes
from mingyue.enablers.modeleval.engine.runner import RunConfig, Runner
from mingyue.enablers.modeleval.engine.suites import SUITES, suite_items, suite_probes
from mingyue.enablers.modeleval.models import ModelevalRun
from mingyue.enablers.modeleval.service.hosting import match_model
from mingyue.sdk import (
    Actor,
    UnitOfWork,
    check,
    get_visible,
    issue_credential,
    now,
    record_count,
)
from mingyue.sdk.errors import InvalidInput

REPORT_TYPE = "ModelEvaluationReport"
MAX_CONCURRENCY = 64


class RunOut(BaseModel):
    """A recorded evaluation run."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    run_key: str
    organization_id: int
    created_at: datetime
    created_by: str
    model: str
    endpoint: str
    accuracy: float | None
    refusal_rate: float | None
    scorecard: dict[str, Any]
    records_sha256: str
    credential_id: str | None
    model_id: int | None = None
    status: str = "succeeded"  # queued | running | succeeded | failed
    error: str | None = None  # why a run failed
    job_id: int | None = None
    request: dict[str, Any] = {}
    finished_at: datetime | None = None


def runs_dir(data_dir: Path) -> Path:
    """Return the folder of run records inside a data dir."""
    return data_dir / "modeleval" / "runs"


def evaluate_endpoint(
    *,
    endpoint: str,
    model: str,
    data_dir: Path,
    api_key_env: str | None = None,
    tasks: Path | None = None,
    probes: Path | None = None,
    concurrency: int = 4,
    price_prompt_1k: Decimal | None = None,
    price_completion_1k: Decimal | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    timeout_s: float = 60.0,
    extra_probes: Sequence[Probe] = (),
    scoring: str = "generate",
    suite: str = "standard",
    limit: int | None = None,
    api_key: str | None = None,
    run_key: str | None = None,
) -> dict[str, Any]:
    """Evaluate the model behind an OpenAI-compatible endpoint; store and return its scorecard.

    ``extra_probes`` (an organization's accepted probes) join the built-in safety set; a
    ``probes`` file replaces both. ``scoring="loglikelihood"`` scores multiple choice by the
    most likely option letter where the endpoint serves ``/v1/completions`` with log-probabilities.
    ``suite`` names the built-in items and probes (``SUITES``), ``limit`` keeps the first ones
    of each; ``api_key`` is a key held in memory (a registered model's sealed one), sent only in
    the Authorization header; ``run_key`` names the records' folder (default: a new one).

    The scorecard's ``run.key`` names the folder with ``records.jsonl`` (prompt hash, output,
    score per item) and ``scorecard.json``.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidInput(
            "modeleval.bad_concurrency",
            f"--concurrency must be between 1 and {MAX_CONCURRENCY}",
            field="--concurrency",
        )
    if scoring not in SCORINGS:
        raise InvalidInput(
            "modeleval.bad_scoring",
            f"--scoring must be one of {', '.join(SCORINGS)}",
            field="--scoring",
        )
    if suite not in SUITES:
        raise InvalidInput(
            "modeleval.bad_suite", f"suite must be one of {', '.join(SUITES)}", field="suite"
        )
    if not model.strip() or len(model) > 200:
        raise InvalidInput("modeleval.bad_model", "--model must name the model", field="--model")
    item_list = load_items(tasks) if tasks else suite_items(suite, limit)
    probe_list = load_probes(probes) if probes else suite_probes(suite, limit) + list(extra_probes)
    client = OpenAICompatible(
        endpoint,
        model,
        api_key_env=None if api_key else api_key_env,
        timeout_s=timeout_s,
        transport=KeyTransport(api_key) if api_key else None,
    )
    cache = DiskCache(data_dir / "modeleval" / "cache.sqlite3")
    try:
        config = RunConfig(
            concurrency=concurrency,
            price_prompt_1k=price_prompt_1k,
            price_completion_1k=price_completion_1k,
            scoring=scoring,
            efficiency_levels=(1, 4) if suite == "quick" else (1, 4, 16),
        )
        card = Runner(client, config, cache=cache, progress=progress).run(item_list, probe_list)
    finally:
        client.close()
        cache.close()
    card["run"]["suite"] = "file" if tasks or probes else suite
    return store_scorecard(card, data_dir=data_dir, endpoint=client.base_url, key=run_key)


def new_run_key() -> str:
    """Return a fresh name for a run's records folder."""
    return uuid.uuid4().hex


def store_scorecard(
    card: dict[str, Any], *, data_dir: Path, endpoint: str, key: str | None = None
) -> dict[str, Any]:
    """Write a run's records and scorecard under the data dir; return the scorecard."""
    records = card.pop("records", [])
    key = key if key is not None and key.isalnum() else new_run_key()
    folder = runs_dir(data_dir) / key
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    (folder / "records.jsonl").write_text(lines, encoding="utf-8")
    card["run"].update(
        key=key,
        endpoint=endpoint,
        records_sha256=hashlib.sha256(lines.encode("utf-8")).hexdigest(),
        finished_at=now().isoformat(),
    )
    (folder / "scorecard.json").write_text(
        json.dumps(card, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    return card


def run_records(data_dir: Path, run_key: str) -> list[dict[str, Any]]:
    """Read a run's per-item records from the data dir (empty when absent)."""
    if not run_key.isalnum():
        return []
    path = runs_dir(data_dir) / run_key / "records.jsonl"
    if not path.is_file():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln]


def record_run(*, uow: UnitOfWork, actor: Actor, card: dict[str, Any]) -> RunOut:
    """Record an evaluation for the actor's organization and sign its evaluation report."""
    check(actor, "modeleval.run.submit")
    if actor.organization_id is None:
        raise InvalidInput(
            "modeleval.no_org", "a platform run needs --as a user of an organization"
        )
    run = card["run"]
    row = ModelevalRun(
        organization_id=actor.organization_id,
        created_by=actor.label(),
        run_key=run["key"],
        model=card["model"],
        endpoint=run["endpoint"],
        records_sha256=run["records_sha256"],
        model_id=match_model(uow, endpoint=run["endpoint"], served_model=card["model"]),
        request={"source": "cli", "scoring": run.get("scoring"), "suite": run.get("suite")},
    )
    uow.session.add(row)
    uow.flush()
    return finish_run(uow=uow, row=row, card=card)


def finish_run(*, uow: UnitOfWork, row: ModelevalRun, card: dict[str, Any]) -> RunOut:
    """Store a finished evaluation on its run row, sign its report, audit it, meter it.

    The caller checked the permission that started the run (``run.submit`` from the CLI,
    ``run.start`` when the run was queued); the row belongs to the organization it is for.
    """
    run = card["run"]
    row.run_key = run["key"]
    row.endpoint = run["endpoint"]
    row.records_sha256 = run["records_sha256"]
    row.accuracy = card["generality"]["accuracy"]
    row.refusal_rate = card["safety"]["refusal_rate"]
    row.scorecard = card
    row.status = "succeeded"
    row.error = None
    row.finished_at = now()
    uow.flush()
    vc = issue_credential(
        uow=uow,
        type=REPORT_TYPE,
        organization_id=row.organization_id,
        subject={
            "model": card["model"],
            "endpoint": run["endpoint"],
            "generality": {k: card["generality"][k] for k in ("accuracy", "items", "failed")},
            "efficiency": {
                k: card["efficiency"][k]
                for k in ("latency_ms_p50", "latency_ms_p95", "ttft_ms_p50", "tokens_per_s")
            },
            "robustness": {
                k: card["robustness"][k] for k in ("accuracy_perturbed", "drop", "consistency")
            },
            "safety": {k: card["safety"][k] for k in ("refusal_rate", "over_refusal_rate")},
            "recordsSha256": run["records_sha256"],
        },
        name={"zh": "大模型评测报告", "en": "Model evaluation report"},
    )
    row.credential_id = vc.id
    uow.audit(
        "modeleval.run.recorded",
        f"modeleval_run:{row.id}",
        {
            "model": row.model,
            "endpoint": row.endpoint,
            "records_sha256": row.records_sha256,
            "credential": vc.id,
        },
    )
    record_count(
        uow=uow,
        organization_id=row.organization_id,
        meter="modeleval.runs",
        unit="run",
        source="modeleval",
        ref=f"modeleval_run:{row.id}",
    )
    tokens = sum(int(v) for v in run.get("tokens", {}).values())
    if tokens:
        record_count(
            uow=uow,
            organization_id=row.organization_id,
            meter="modeleval.tokens",
            unit="token",
            source="modeleval",
            count=tokens,
            ref=f"modeleval_run:{row.id}",
        )
    return RunOut.model_validate(row)


def list_runs(*, uow: UnitOfWork, actor: Actor, limit: int = 100) -> list[RunOut]:
    """List the runs the actor may read, newest first."""
    check(actor, "modeleval.run.read")
    rows = uow.session.scalars(
        select(ModelevalRun).order_by(ModelevalRun.id.desc()).limit(limit)
    ).all()
    return [RunOut.model_validate(r) for r in rows]


def get_run(*, uow: UnitOfWork, actor: Actor, run_id: int) -> RunOut:
    """Return one run (NotFound when absent or another organization's)."""
    row = get_visible(uow, ModelevalRun, run_id, "modeleval.run.read")
    return RunOut.model_validate(row)
