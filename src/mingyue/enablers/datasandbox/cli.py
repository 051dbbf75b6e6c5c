"""`mingyue datasandbox …`: register datasets, run gated queries, budgets, verification."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, run_cli, settings_for
from mingyue.sdk import InvalidInput, RecordedRefusal, UnitOfWork, run_job_now

from . import service
from .engine.verify import PsiClient
from .schemas import PsiOut, RequestOut
from .sources.cli import PgArgs, add_commands, add_pg

T = TypeVar("T")

app = typer.Typer(help="数据融合训练场 / Data-fusion sandbox", no_args_is_help=True)
dataset_app = typer.Typer(help="沙箱数据集 / Datasets in the sandbox", no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")

REFUSED_EXIT = 3


@dataset_app.command("add")
def dataset_add(
    name: Annotated[str, typer.Option("--name", help="Dataset name (a-z, 0-9, _)")],
    file: Annotated[
        Path | None,
        typer.Argument(help="CSV, Parquet or JSON file (or a PostgreSQL table with --pg-table)"),
    ] = None,
    identifier: Annotated[
        list[str] | None, typer.Option("--identifier", help="Direct identifier column")
    ] = None,
    quasi: Annotated[
        list[str] | None, typer.Option("--quasi", help="Quasi-identifier column")
    ] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option("--sensitive", help="Sensitive column")
    ] = None,
    min_group: Annotated[int, typer.Option("--min-group", min=1)] = 10,
    epsilon_per_period: Annotated[
        float,
        typer.Option(
            "--epsilon-per-period", min=0, help="Privacy budget per consumer and month; 0: no DP"
        ),
    ] = 3.0,
    open_to: Annotated[
        str | None,
        typer.Option(
            "--open-to", help="'all': standing policy that auto-approves every organization"
        ),
    ] = None,
    description: Annotated[str, typer.Option("--description")] = "",
    bound: Annotated[
        list[str] | None,
        typer.Option(
            "--bound", help="Public clamping bounds COL=LOW:HIGH (else derived and rounded)"
        ),
    ] = None,
    verify_key: Annotated[
        list[str] | None,
        typer.Option(
            "--verify-key",
            help="Column a PSI predicate may test (default: the ordinary columns)",
        ),
    ] = None,
    pg_dsn: Annotated[
        str | None,
        typer.Option(
            "--pg-dsn", help="postgresql://user@host:port/db (keep the password out of it)"
        ),
    ] = None,
    pg_host: Annotated[str | None, typer.Option("--pg-host")] = None,
    pg_port: Annotated[int | None, typer.Option("--pg-port", min=1, max=65535)] = None,
    pg_db: Annotated[str | None, typer.Option("--pg-db")] = None,
    pg_user: Annotated[str | None, typer.Option("--pg-user", help="A read-only role")] = None,
    pg_password_env: Annotated[
        str | None,
        typer.Option(
            "--pg-password-env", help="Name of an environment variable holding the password"
        ),
    ] = None,
    pg_password_stdin: Annotated[
        bool,
        typer.Option("--pg-password-stdin", help="Read the password from the first line of stdin"),
    ] = False,
    pg_table: Annotated[str | None, typer.Option("--pg-table", help="schema.table or view")] = None,
    pg_column: Annotated[
        list[str] | None, typer.Option("--pg-column", help="Copy only these columns (default: all)")
    ] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """登记数据集 / Register FILE (CSV, Parquet, JSON) or a PostgreSQL table (--pg-table) as a dataset."""
    with run_cli():
        bounds: dict[str, tuple[float, float]] = {}
        for b in bound or []:
            try:
                col, rng = b.split("=", 1)
                lo, hi = rng.split(":", 1)
                bounds[col.strip()] = (float(lo), float(hi))
            except ValueError as exc:
                raise InvalidInput(
                    "datasandbox.dataset.bounds",
                    f"--bound {b!r}: use COL=LOW:HIGH",
                    field="--bound",
                ) from exc
        if open_to not in (None, "all"):
            raise typer.BadParameter("--open-to takes 'all'")
        pg = PgArgs(
            dsn=pg_dsn,
            host=pg_host,
            port=pg_port,
            dbname=pg_db,
            user=pg_user,
            password_env=pg_password_env,
            password_stdin=pg_password_stdin,
            table=pg_table,
            columns=pg_column,
        )
        if pg.given:
            emit(
                add_pg(
                    pg=pg,
                    file=file,
                    data_dir=data_dir,
                    as_user=as_user,
                    name=name,
                    identifiers=identifier or [],
                    quasi=quasi or [],
                    sensitive=sensitive or [],
                    min_group=min_group,
                    epsilon_per_period=epsilon_per_period or None,
                    open_to_all=open_to == "all",
                    description=description,
                    bounds=bounds,
                ),
                json_out,
            )
            return
        if file is None:
            raise InvalidInput(
                "datasandbox.dataset.missing_file", "give a FILE or --pg-table", field="file"
            )
        if not file.is_file():
            raise FileNotFoundError(2, "no such file", str(file))
        with cli_uow(data_dir, as_user, require_user=True) as uow:
            out = service.register_dataset(
                uow=uow,
                actor=uow.actor,
                source=file,
                name=name,
                identifiers=identifier or [],
                quasi=quasi or [],
                sensitive=sensitive or [],
                min_group=min_group,
                epsilon_per_period=epsilon_per_period or None,
                open_to_all=open_to == "all",
                description=description,
                bounds=bounds,
                verify_keys=verify_key,
            )
        emit(out, json_out)


@dataset_app.command("list")
def dataset_list(
    data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """列出数据集 / List the catalogue (schema, rounded size, policy)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        items = service.list_datasets(uow=uow, actor=uow.actor)
        if json_out:
            emit(items, True)
        else:
            emit(
                [
                    {
                        "name": d.name,
                        "owner": d.owner_org_id,
                        "rows≈": d.rows_rounded,
                        "identifiers": ",".join(c.name for c in d.columns if c.cls == "identifier"),
                        "min_group": d.policy["min_group_size"],
                        "epsilon/period": d.policy["epsilon_per_period"],
                    }
                    for d in items
                ],
                False,
            )


@dataset_app.command("show")
def dataset_show(
    name: str, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """查看数据集 / Show one dataset with its mock preview (synthetic rows)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        emit(service.get_dataset(uow=uow, actor=uow.actor, name=name), json_out)


def _submit(
    data_dir: Path | None, as_user: str | None, call: Callable[[UnitOfWork], T]
) -> T | RequestOut:
    """Run one submission in its unit of work; a refusal comes back as its request record."""
    try:
        with cli_uow(data_dir, as_user, require_user=True) as uow:
            return call(uow)
    except RecordedRefusal as exc:  # committed with its audit entry; printed, exit 3
        return RequestOut.model_validate(exc.document)


def _query_payload(out: RequestOut) -> dict[str, Any]:
    return {
        "id": out.id,
        "status": out.status,
        "reason": (out.reason or {}).get("message") if out.reason else None,
        "rule": (out.reason or {}).get("rule") if out.reason else None,
        "rows": out.rows or [],
        "epsilon_spent": out.epsilon_spent,
        "epsilon_left": out.epsilon_left,
        "preview": out.preview,
    }


@app.command("query")
def query_cmd(
    sql: Annotated[str, typer.Option("--sql", help="Aggregate SQL (DuckDB dialect)")],
    dataset: Annotated[str | None, typer.Option("--dataset")] = None,
    epsilon: Annotated[float | None, typer.Option("--epsilon", min=0.0001, max=10)] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Positional parameter value (JSON if it parses, else text)"),
    ] = None,
    purpose: Annotated[str, typer.Option("--purpose")] = "statistics",
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """沙箱内聚合查询 / Run aggregate SQL inside the sandbox; print the gated release (refusal exits 3)."""
    params: list[Any] | None = None
    if param:
        params = []
        for p in param:
            try:
                params.append(json.loads(p))
            except json.JSONDecodeError:
                params.append(p)
    with run_cli():
        out = _submit(
            data_dir,
            as_user,
            lambda uow: service.submit_query(
                uow=uow,
                actor=uow.actor,
                sql=sql,
                dataset=dataset,
                epsilon=epsilon,
                params=params,
                purpose=purpose,
            ),
        )
        if out.job_id is not None and out.status == "approved":
            run_job_now(settings_for(data_dir), out.job_id)
            with cli_uow(data_dir, as_user, require_user=True) as uow:
                out = service.get_request(uow=uow, actor=uow.actor, request_id=out.id)
        payload = _query_payload(out)
        emit(
            payload if json_out else {k: v for k, v in payload.items() if k != "preview"}, json_out
        )
        if out.status in ("refused", "failed"):
            raise typer.Exit(REFUSED_EXIT if out.status != "failed" else 1)


@app.command("train")
def train_cmd(
    dataset: Annotated[str, typer.Option("--dataset")],
    template: Annotated[
        str,
        typer.Option(
            "--template",
            help="linear_regression | "
            "logistic_regression | gradient_boosting | "
            "dp_linear_regression",
        ),
    ],
    feature: Annotated[list[str], typer.Option("--feature", help="Feature column (repeat)")],
    target: Annotated[str, typer.Option("--target")],
    epsilon: Annotated[float | None, typer.Option("--epsilon", min=0.0001, max=10)] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """沙箱内训练模型 / Train a model template inside the sandbox; only parameters and metrics leave."""
    with run_cli():
        out = _submit(
            data_dir,
            as_user,
            lambda uow: service.submit_training(
                uow=uow,
                actor=uow.actor,
                dataset=dataset,
                template=template,
                features=feature,
                target=target,
                epsilon=epsilon,
            ),
        )
        if out.job_id is not None and out.status == "approved":
            run_job_now(settings_for(data_dir), out.job_id)
            with cli_uow(data_dir, as_user, require_user=True) as uow:
                out = service.get_request(uow=uow, actor=uow.actor, request_id=out.id)
        payload = {**_query_payload(out), "model": out.model}
        payload.pop("preview", None)
        emit(payload, json_out)
        if out.status in ("refused", "failed"):
            raise typer.Exit(REFUSED_EXIT if out.status != "failed" else 1)


@app.command("budget")
def budget_cmd(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """查看隐私预算 / Show the privacy budget left per dataset this period."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        emit(service.budgets(uow=uow, actor=uow.actor), json_out)


@app.command("verify")
def verify_cmd(
    dataset: Annotated[str, typer.Option("--dataset")],
    predicate: Annotated[str, typer.Option("--predicate", help="e.g. \"credit_rating = 'A'\"")],
    id_: Annotated[list[str], typer.Option("--id", help="Identifier to check (repeat)")],
    count: Annotated[bool, typer.Option("--count", help="Only the number of matches")] = False,
    psi: Annotated[
        bool,
        typer.Option(
            "--psi",
            help="Private set intersection: the sandbox "
            "never sees the identifiers; prints the match count",
        ),
    ] = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """核验服务 / Verification product: yes/no per identifier, or a match count (refusal exits 3)."""
    if psi:
        with run_cli():
            client = PsiClient(id_)
            reply = _submit(
                data_dir,
                as_user,
                lambda uow: service.psi(
                    uow=uow,
                    actor=uow.actor,
                    dataset=dataset,
                    predicate=predicate,
                    request=client.request,
                ),
            )
            if not isinstance(reply, PsiOut):  # a refused request record
                emit(
                    {
                        "id": reply.id,
                        "status": reply.status,
                        "reason": (reply.reason or {}).get("message"),
                        "rule": (reply.reason or {}).get("rule"),
                    },
                    json_out,
                )
                raise typer.Exit(REFUSED_EXIT)
            size = client.size(
                base64.b64decode(reply.setup_b64 or ""), base64.b64decode(reply.response_b64 or "")
            )
            emit({"id": reply.request_id, "status": "released", "count": size}, json_out)
        return
    with run_cli():
        out = _submit(
            data_dir,
            as_user,
            lambda uow: service.verify(
                uow=uow,
                actor=uow.actor,
                dataset=dataset,
                ids=id_,
                predicate=predicate,
                mode="count" if count else "each",
            ),
        )
        emit(_query_payload(out), json_out)
        if out.status == "refused":
            raise typer.Exit(REFUSED_EXIT)


@app.command("requests")
def requests_cmd(
    data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """列出本组织的申请 / List your organization's requests."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        items = service.list_requests(uow=uow, actor=uow.actor)
        if json_out:
            emit(items, True)
            return
        table: list[dict[str, object]] = [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "datasets": ",".join(r.datasets),
                "epsilon": r.epsilon_spent,
            }
            for r in items
        ]
        emit(table, False)


add_commands(dataset_app)  # dataset refresh, dataset source: after add, list, show
