"""`mingyue policy …`: ask the policy corpus, evaluate it on labelled questions, ingest documents.

Without ``--data-dir`` (given on the command line), ``ask`` and ``eval`` use the seed corpus
bundled with the enabler (no database); with it they use that platform's corpus.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mingyue.cli_support import (
    AsUser,
    DataDir,
    JsonOut,
    cli_uow,
    emit,
    fail,
    read_text_file,
    run_cli,
    stdout_console,
)
from mingyue.enablers.policy.engine.answer import mark
from mingyue.enablers.policy.schemas_corpus import AnswerOut, AskIn
from mingyue.enablers.policy.service import corpus, qa
from mingyue.enablers.policy.service import dispatch as service_dispatch
from mingyue.enablers.policy.service import indicators as service_indicators
from mingyue.enablers.policy.service import push as service_push
from mingyue.enablers.policy.settings import options_from_env
from mingyue.sdk.errors import InvalidInput

app = typer.Typer(
    help="政策服务 / Policy services: Q&A citing the clause, evaluation, document ingest.",
    no_args_is_help=True,
)

# No environment fallback: naming a data dir is what switches from the bundled seed corpus.
CorpusDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Answer from this platform's corpus (default: the bundled seed corpus).",
    ),
]
Mode = Annotated[str, typer.Option("--mode", help="hybrid | bm25 | dense")]


def _print_answer(out: AnswerOut) -> None:
    console = stdout_console()
    if not out.covered:
        console.print(out.answer, markup=False)
        return
    console.print(out.answer, markup=False)
    console.print("")
    for c in out.citations:
        state = "" if c.current else "（已被新版本修订）"
        console.print(f"[{c.clause_id}]{state} {c.url}", markup=False)
        console.print(mark(c.text, c.highlights), markup=False)
        console.print("")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in Chinese.", show_default=False)],
    data_dir: CorpusDir = None,
    as_user: AsUser = None,
    k: Annotated[int, typer.Option("--k", min=1, max=10, help="Clauses to retrieve.")] = 5,
    mode: Mode = "hybrid",
    generate: Annotated[
        bool, typer.Option("--generate", help="Answer through the configured model endpoint.")
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """政策问答 / Answer a question with the clauses that support it, or say it is not covered."""
    with run_cli():
        body = AskIn.model_validate(
            {"question": question, "k": k, "mode": mode, "generate": generate}
        )
        if data_dir is None:
            out = qa.ask_bundled(body, opts=options_from_env())
        else:
            with cli_uow(data_dir, as_user, read_only=True) as uow:
                out = qa.ask(uow=uow, actor=uow.actor, body=body)
    if json_out:
        emit(out, True)
    else:
        _print_answer(out)


@app.command("eval")
def evaluate(
    questions: Annotated[
        Path, typer.Argument(help="Labelled questions (JSON Lines).", show_default=False)
    ],
    data_dir: CorpusDir = None,
    as_user: AsUser = None,
    mode: Mode = "hybrid",
    json_out: JsonOut = False,
) -> None:
    """评测问答 / Recall@5, MRR, citation precision and trap accuracy on labelled questions."""
    with run_cli():
        if mode not in ("hybrid", "bm25", "dense"):
            raise InvalidInput("policy.bad_mode", "mode: hybrid, bm25 or dense", field="--mode")
        text = read_text_file(questions, what="questions")
        if data_dir is None:
            result = qa.evaluate_set(
                text,
                qa.bundled_retriever(),
                threshold=qa.threshold_of(options_from_env()),
                mode=mode,
            )
        else:
            with cli_uow(data_dir, as_user, read_only=True) as uow:
                result = qa.evaluate_set(
                    text, qa.retriever_for(uow), threshold=qa.threshold_of(uow.settings), mode=mode
                )
    if json_out:
        emit(result, True)
        return
    rows = {k: v for k, v in result.items() if k not in ("misses", "recall_at_5_by_kind")}
    rows["recall_at_5_by_kind"] = json.dumps(result["recall_at_5_by_kind"], ensure_ascii=False)
    rows["misses"] = len(result["misses"])
    emit(rows, False, title="policy eval")


@app.command()
def ingest(
    file: Annotated[
        Path, typer.Argument(help="The document: text, HTML, PDF or DOCX.", show_default=False)
    ],
    slug: Annotated[
        str | None, typer.Option("--slug", help="Document name in clause ids (default: file name).")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="text | html | pdf | docx (sniffed if absent).")
    ] = None,
    region: Annotated[str | None, typer.Option("--region", help="Region tag.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """导入政策文件 / Ingest a policy document: split into clauses, stored as its next version."""
    with run_cli():
        try:
            if file.is_dir():
                raise InvalidInput("policy.bad_file", f"{file} is a directory, not a file")
            data = file.read_bytes()
        except OSError as exc:
            raise fail(f"error: cannot read {file}: {exc.strerror or exc}", 2) from None
        with cli_uow(data_dir, as_user, require_user=True) as uow:
            out = corpus.ingest_document(
                uow=uow,
                actor=uow.actor,
                data=data,
                filename=file.name,
                slug=slug,
                fmt=fmt,
                region=region,
            )
    emit(out, json_out)


@app.command()
def documents(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    superseded: Annotated[
        bool, typer.Option("--superseded", help="Include superseded versions.")
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """政策文件列表 / List the corpus's documents."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        docs = corpus.list_documents(uow=uow, actor=uow.actor, include_superseded=superseded)
    if json_out:
        emit(docs, True)
        return
    emit(
        [
            {
                "id": d.id,
                "slug": d.slug,
                "version": d.version,
                "status": d.status,
                "doc_number": d.doc_number,
                "title": d.title,
                "clauses": d.clause_count,
            }
            for d in docs
        ],
        False,
    )


# -- policy-service: eligibility, dispatch, indicators ------------------------------------------

OrgOpt = Annotated[
    int | None,
    typer.Option(
        "--org", min=1, max=2**31 - 1, help="Organization id (officials; default: yours)."
    ),
]


@app.command()
def match(
    org: OrgOpt = None,
    measure: Annotated[
        str | None, typer.Option("--measure", help="One measure's key (default: every one).")
    ] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """政策匹配 / Eligible, likely or missing for each measure, with a reason per condition."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = service_push.eligibility(
            uow=uow, actor=uow.actor, organization_id=org, measure_key=measure
        )
    if json_out:
        emit(rows, True)
        return
    emit(
        [
            {
                "measure": r.measure.key,
                "title": r.measure.title["zh"],
                "verdict": r.verdict,
                "missing": "；".join(x["zh"] for x in r.missing),
                "to_confirm": "；".join(x["zh"] for x in r.to_confirm),
                "clause": r.measure.clause_id,
            }
            for r in rows
        ],
        False,
        title="policy match",
    )


@app.command()
def classify(
    text: Annotated[str, typer.Argument(help="A request, in Chinese.", show_default=False)],
    json_out: JsonOut = False,
) -> None:
    """诉求分类 / Which department and kind a request goes to, and whether a person must route it."""
    with run_cli():
        opts = options_from_env()
        p = service_dispatch.classifier().predict(text)
        out = {
            "department": p.department,
            "department_confidence": p.department_confidence,
            "kind": p.kind,
            "kind_confidence": p.kind_confidence,
            "ranked": [{"department": d, "probability": pr} for d, pr in p.ranked],
            "auto": p.confident(opts.dispatch_department_min, opts.dispatch_kind_min),
        }
    emit(out, json_out)


@app.command("dispatch-report")
def dispatch_report(json_out: JsonOut = False) -> None:
    """分拨评估 / Held-out accuracy, macro-F1 and confusion matrices of the request classifier."""
    with run_cli():
        report = service_dispatch.evaluation_report(options_from_env())
    if json_out:
        emit(report, True)
        return
    h = report.held_out
    emit(
        {
            "examples": report.examples,
            "held_out": h.size,
            "department_accuracy": h.department.accuracy,
            "department_macro_f1": h.department.macro_f1,
            "kind_accuracy": h.kind.accuracy,
            "auto_share": h.auto_share,
            "auto_accuracy": h.auto_accuracy,
            "cv_department_accuracy": report.cv_department_accuracy,
            "blind_department_accuracy": report.blind.department.accuracy if report.blind else None,
        },
        False,
    )


indicators_app = typer.Typer(
    help="数字经济指标 / Digital-economy indicators: upload statistics, series, ranking, lag check.",
    no_args_is_help=True,
)
app.add_typer(indicators_app, name="indicators")


@indicators_app.command("upload")
def indicators_upload(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX: 指标, 地区, 期间, 数值[, 单位].")],
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse the file on any bad row.")
    ] = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """上传统计数据 / Read statistics; bad rows are listed by line; laggards open cases."""
    with run_cli():
        try:
            if file.is_dir():
                raise InvalidInput("policy.indicator.bad_file", f"{file} is a directory")
            data = file.read_bytes()
        except OSError as exc:
            raise fail(f"error: cannot read {file}: {exc.strerror or exc}", 2) from None
        with cli_uow(data_dir, as_user, require_user=True) as uow:
            out = service_indicators.upload_statistics(
                uow=uow, actor=uow.actor, upload=data, filename=file.name, strict=strict
            )
    emit(out, json_out)


@indicators_app.command("show")
def indicators_show(
    indicator: Annotated[str, typer.Argument(help="Indicator key, e.g. de_scale.")],
    district: Annotated[
        str | None, typer.Option("--district", help="One district's series (default: ranking).")
    ] = None,
    period: Annotated[str | None, typer.Option("--period", help="Ranking period.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """指标看板 / A district's series against its path, or the districts' ranking."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        out: object
        if district:
            out = service_indicators.series(
                uow=uow, actor=uow.actor, indicator=indicator, district=district
            )
        else:
            out = service_indicators.ranking(
                uow=uow, actor=uow.actor, indicator=indicator, period=period
            )
    if json_out:
        emit(out, True)
        return
    rows = out.points if hasattr(out, "points") else out.rows
    emit(rows, False)


@indicators_app.command("check")
def indicators_check(
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """督办检查 / Compare every indicator with its path; open a case for each new laggard."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True) as uow:
        out = service_indicators.check_lags(uow=uow, actor=uow.actor)
    emit(out, json_out)
