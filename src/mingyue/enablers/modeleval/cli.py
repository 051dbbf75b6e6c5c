"""`mingyue modeleval …`: evaluate a model behind an OpenAI-compatible endpoint, list runs."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from mingyue.cli_support import (
    AsUser,
    DataDir,
    JsonOut,
    cli_uow,
    emit,
    fail,
    run_cli,
    settings_for,
)
from mingyue.enablers.modeleval import service
from mingyue.enablers.modeleval.cli_models import models_app
from mingyue.enablers.modeleval.engine.items import Probe
from mingyue.sdk import check

app = typer.Typer(
    help="大模型评测 / Model evaluation: generality, efficiency, robustness, safety.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")


class Scoring(StrEnum):
    """How multiple-choice items are scored."""

    generate = "generate"
    loglikelihood = "loglikelihood"


def _price(value: str | None, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise fail(f"error: {name} must be a decimal price per 1,000 tokens", 2) from None
    if not price.is_finite() or price < 0:
        raise fail(f"error: {name} must be a price of zero or more", 2)
    return price


@app.command()
def run(
    endpoint: Annotated[str, typer.Option(help="OpenAI-compatible base URL (…/v1).")],
    model: Annotated[str, typer.Option(help="Model name sent to the endpoint.")],
    api_key_env: Annotated[
        str | None, typer.Option(help="Environment variable holding the API key.")
    ] = None,
    tasks: Annotated[
        Path | None, typer.Option(help="TASKS.jsonl replacing the built-in generality suite.")
    ] = None,
    probes: Annotated[
        Path | None, typer.Option(help="PROBES.jsonl replacing the built-in safety probes.")
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight (1-64).")] = 4,
    price_prompt_1k: Annotated[
        str | None, typer.Option(help="Tariff: price per 1,000 prompt tokens.")
    ] = None,
    price_completion_1k: Annotated[
        str | None, typer.Option(help="Tariff: price per 1,000 completion tokens.")
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds one request may wait.")] = 60.0,
    scoring: Annotated[
        Scoring,
        typer.Option(
            help="Multiple choice: read the generated answer's letter, or pick the most likely "
            "letter by log-likelihood (/v1/completions with echo and logprobs)."
        ),
    ] = Scoring.generate,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """评测一个模型 / Evaluate a model on four dimensions and print its scorecard.

    With --as the run is recorded for the user's organization with a signed evaluation report.
    The API key is read from --api-key-env and written nowhere.
    """
    with run_cli():
        prices = (
            _price(price_prompt_1k, "--price-prompt-1k"),
            _price(price_completion_1k, "--price-completion-1k"),
        )
        if not 0 < timeout <= 3600:
            raise fail("error: --timeout must be between 0 and 3600 seconds", 2)
        settings = settings_for(data_dir)

        def evaluate(extra: Sequence[Probe] = ()) -> dict[str, Any]:
            return service.evaluate_endpoint(
                endpoint=endpoint,
                model=model,
                data_dir=settings.data_dir,
                api_key_env=api_key_env,
                tasks=tasks,
                probes=probes,
                concurrency=concurrency,
                price_prompt_1k=prices[0],
                price_completion_1k=prices[1],
                timeout_s=timeout,
                extra_probes=extra,
                scoring=scoring.value,
            )

        if not as_user:
            emit(evaluate(), json_out)
            return
        with cli_uow(data_dir, as_user, require_user=True) as uow:
            check(uow.actor, "modeleval.run.submit")
            if probes is None and uow.actor.organization_id is not None:
                # The organization's accepted probes join the built-in set (--probes replaces).
                extra = service.org_probes(uow=uow, organization_id=uow.actor.organization_id)
                card = evaluate(extra)
            else:
                card = evaluate()
            out = service.record_run(uow=uow, actor=uow.actor, card=card)
            card["run"]["id"] = out.id
            card["run"]["credential_id"] = out.credential_id
        emit(card, json_out)


@app.command("list")
def list_(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """列出评测 / List the recorded evaluation runs you may read."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        runs = service.list_runs(uow=uow, actor=uow.actor)
        emit(
            [
                {
                    "id": r.id,
                    "model": r.model,
                    "accuracy": r.accuracy,
                    "refusal_rate": r.refusal_rate,
                    "created_at": r.created_at,
                }
                for r in runs
            ],
            json_out,
        )
