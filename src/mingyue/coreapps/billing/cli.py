"""CLI: ``mingyue billing usage|statement|tariff|pool ...``."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, run_cli
from mingyue.core import metering
from mingyue.core.errors import InvalidInput
from mingyue.core.tenancy.access import check

app = typer.Typer(
    help="计量与分时计费 / Metering and billing (time-of-use): usage, statements, tariffs, free pools.",
    no_args_is_help=True,
)
usage_app = typer.Typer(help="用量记录 / Usage records.", no_args_is_help=True)
statement_app = typer.Typer(help="月度账单 / Monthly statements.", no_args_is_help=True)
tariff_app = typer.Typer(help="分时电价 / Time-of-use tariffs.", no_args_is_help=True)
pool_app = typer.Typer(
    help="免费额度与月度上限 / Free pools and monthly caps.", no_args_is_help=True
)
app.add_typer(usage_app, name="usage")
app.add_typer(statement_app, name="statement")
app.add_typer(tariff_app, name="tariff")
app.add_typer(pool_app, name="pool")

Month = Annotated[str | None, typer.Option("--month", help="Month YYYY-MM (Asia/Shanghai).")]
Org = Annotated[int | None, typer.Option("--org", help="Organization id.")]


def _display(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _decimal(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError as exc:
        raise InvalidInput(
            "core.usage.bad_quantity", f"{field}: not a number: {text!r}", field=field
        ) from exc
    return value


def _when(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            "core.usage.naive_time", f"{field}: not an ISO 8601 time: {text!r}", field=field
        ) from exc
    if value.tzinfo is None:
        raise InvalidInput(
            "core.usage.naive_time", f"{field}: give a time zone (+08:00, Z)", field=field
        )
    return value


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            "core.tariff.bad_dates", f"{field}: not a date YYYY-MM-DD: {text!r}", field=field
        ) from exc


@usage_app.command("list")
def usage_list(
    month: Month = None,
    meter: Annotated[str | None, typer.Option()] = None,
    org: Org = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """列出用量记录 / List usage records in scope, newest first."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        rows = metering.list_usage(
            uow=uow, organization_id=org, month=month, meter=meter, limit=limit
        )
    if json_out:
        emit(rows, True)
        return
    tz = ZoneInfo(uow.settings.timezone)
    emit(
        [
            {
                "id": r.id,
                "org": r.organization_id,
                "meter": r.meter,
                "quantity": f"{r.quantity} {r.unit}",
                "free": r.free_quantity,
                "from": r.start.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "to": r.end.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                "amount": "" if r.amount is None else f"{_display(r.amount)} {r.currency}",
                "source": r.source,
            }
            for r in rows
        ],
        False,
        title="usage",
    )


@usage_app.command("record")
def usage_record(
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    meter: Annotated[str, typer.Option()],
    quantity: Annotated[str, typer.Option()],
    unit: Annotated[str, typer.Option()],
    start: Annotated[str, typer.Option(help="ISO 8601 with time zone.")],
    end: Annotated[str, typer.Option(help="ISO 8601 with time zone.")],
    source: Annotated[str, typer.Option()] = "cli",
    ref: Annotated[str | None, typer.Option()] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """记录并计价一条用量 / Record and price one usage (platform administrators)."""

    with run_cli(), cli_uow(data_dir, as_user) as uow:
        check(uow.actor, "core.usage.record")
        out = metering.record_usage(
            uow=uow,
            organization_id=org,
            meter=meter,
            quantity=_decimal(quantity, "quantity"),
            unit=unit,
            start=_when(start, "start"),
            end=_when(end, "end"),
            source=source,
            ref=ref,
        )
    emit(out, json_out)


@usage_app.command("summary")
def usage_summary(
    month: Annotated[str, typer.Option(help="Month YYYY-MM.")],
    org: Org = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """月度用量汇总 / Summarize a month of usage by meter (and by day and band with --json)."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        out = metering.usage_summary(uow=uow, organization_id=org, month=month)
    emit(out if json_out else [m.model_dump() for m in out.meters], json_out, title=month)


@statement_app.command("list")
def statement_list(
    month: Month = None,
    org: Org = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """列出已出具的账单 / List issued statements in scope."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        rows = metering.list_statements(uow=uow, organization_id=org, month=month)
    emit([r.model_dump(exclude={"lines"}) for r in rows], json_out, title="statements")


@statement_app.command("show")
def statement_show(
    statement_id: int, data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False
) -> None:
    """查看一份账单 / Show one statement with its lines."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        st = metering.get_statement(uow=uow, statement_id=statement_id)
    if json_out:
        emit(st, True)
    else:
        emit(st.model_dump(exclude={"lines"}), False)
        emit([ln.model_dump() for ln in st.lines], False, title=f"statement {st.id} {st.month}")


@statement_app.command("generate")
def statement_generate(
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    month: Annotated[str, typer.Option(help="Ended month YYYY-MM.")],
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """出具组织的月度账单 / Issue an organization's statement of an ended month."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        st = metering.generate_statement(uow=uow, organization_id=org, month=month)
    emit(st, json_out)


@tariff_app.command("list")
def tariff_list(
    meter: Annotated[str | None, typer.Option()] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """列出电价 / List tariffs."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        rows = metering.list_tariffs(uow=uow, meter=meter)
    if json_out:
        emit(rows, True)
        return
    emit(
        [
            {
                "id": t.id,
                "meter": t.meter,
                "name": t.name,
                "from": t.effective_from,
                "to": t.effective_to,
                **{b: t.prices.get(b) for b in ("peak", "flat", "valley")},
                "currency": t.currency,
            }
            for t in rows
        ],
        False,
        title="tariffs",
    )


@tariff_app.command("create")
def tariff_create(
    meter: Annotated[str, typer.Option()],
    peak: Annotated[str, typer.Option(help="Price per unit in peak hours.")],
    flat: Annotated[str, typer.Option(help="Price per unit in flat hours.")],
    valley: Annotated[str, typer.Option(help="Price per unit in valley hours.")],
    effective_from: Annotated[str, typer.Option("--from", help="YYYY-MM-DD.")],
    effective_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, exclusive.")] = None,
    windows: Annotated[
        str | None,
        typer.Option(
            help='JSON [{"band":"peak","start":"11:00","end":"17:00"}, ...]; '
            "default: the Chongqing-shaped day."
        ),
    ] = None,
    currency: Annotated[str | None, typer.Option()] = None,
    name: Annotated[str, typer.Option()] = "",
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """创建分时电价 / Create a time-of-use tariff (platform administrators)."""
    with run_cli():
        parsed = json.loads(windows) if windows else None
        if parsed is not None and not isinstance(parsed, list):
            raise InvalidInput("core.tariff.bad_window", "windows: a JSON list", field="windows")
        with cli_uow(data_dir, as_user) as uow:
            out = metering.create_tariff(
                uow=uow,
                meter=meter,
                windows=parsed,
                currency=currency,
                name=name,
                prices={
                    "peak": _decimal(peak, "peak"),
                    "flat": _decimal(flat, "flat"),
                    "valley": _decimal(valley, "valley"),
                },
                effective_from=_day(effective_from, "from"),
                effective_to=_day(effective_to, "to") if effective_to else None,
            )
    emit(out, json_out)


@pool_app.command("show")
def pool_show(
    meter: Annotated[str, typer.Option()],
    month: Annotated[str, typer.Option()],
    org: Org = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """查看组织的免费额度 / Show an organization's free pool of a meter for a month (own organization by default)."""
    with run_cli(), cli_uow(data_dir, as_user, read_only=True) as uow:
        target = org if org is not None else uow.actor.organization_id
        if target is None:
            raise InvalidInput("core.billing.org_required", "--org is required", field="--org")
        out = metering.get_free_pool(uow=uow, organization_id=target, meter=meter, month=month)
    emit(out, json_out)


@pool_app.command("set")
def pool_set(
    org: Annotated[int, typer.Option("--org", help="Organization id.")],
    meter: Annotated[str, typer.Option()],
    month: Annotated[str, typer.Option()],
    granted: Annotated[str, typer.Option(help="Free quantity of the month.")],
    cap: Annotated[str | None, typer.Option(help="Most usage of the month.")] = None,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """设置组织的免费额度 / Set an organization's free quantity and cap of a meter for a month."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        out = metering.set_free_pool(
            uow=uow,
            organization_id=org,
            meter=meter,
            month=month,
            granted=_decimal(granted, "granted"),
            cap=_decimal(cap, "cap") if cap is not None else None,
        )
    emit(out, json_out)


@pool_app.command("default")
def pool_default(
    meter: Annotated[str, typer.Option()],
    granted: Annotated[str, typer.Option(help="Free quantity per month.")],
    all_orgs: Annotated[
        bool, typer.Option("--all-orgs", help="For every organization, not only SMEs.")
    ] = False,
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """设置默认免费额度 / Set the monthly free quantity every SME (or every organization) gets for a meter."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        metering.set_pool_default(
            uow=uow, meter=meter, granted=_decimal(granted, "granted"), sme_only=not all_orgs
        )
    emit({"meter": meter, "granted": granted, "sme_only": not all_orgs}, json_out)


@statement_app.command("run")
def statement_run(
    month: Annotated[str, typer.Option(help="Ended month YYYY-MM.")],
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """批量出具月度账单 / Issue the month's statement of every organization that used something and has none yet."""
    with run_cli(), cli_uow(data_dir, as_user) as uow:
        rows = metering.generate_due_statements(uow=uow, month=month)
    emit(
        [r.model_dump(exclude={"lines"}) for r in rows] if not json_out else rows,
        json_out,
        title=f"statements {month}",
    )
