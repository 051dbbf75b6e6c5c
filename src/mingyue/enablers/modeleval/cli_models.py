"""`mingyue modeleval models …`: register a model with its card, list and show cards."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from mingyue.cli_support import AsUser, DataDir, JsonOut, cli_uow, emit, fail, run_cli
from mingyue.enablers.modeleval import service
from mingyue.enablers.modeleval.schemas import ModelIn

models_app = typer.Typer(help="模型登记 / Registered models and their cards.", no_args_is_help=True)


@models_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="Model name (its card's title).")],
    version: Annotated[str, typer.Option(help="Version, e.g. 2024-06 or v1.2.")],
    provider: Annotated[str, typer.Option(help="Who provides the model.")],
    licence: Annotated[str, typer.Option(help="Licence, e.g. Apache-2.0.")],
    endpoint: Annotated[str, typer.Option(help="OpenAI-compatible base URL (…/v1).")],
    served_model: Annotated[
        str | None, typer.Option(help="Model name sent to the endpoint (default: --name).")
    ] = None,
    intended_use: Annotated[str, typer.Option(help="Intended use (card).")] = "",
    limitations: Annotated[str, typer.Option(help="Known limitations (card).")] = "",
    api_key_env: Annotated[
        str | None, typer.Option(help="NAME of the server's variable holding the key.")
    ] = None,
    price_1k: Annotated[
        str | None, typer.Option(help="Tariff: CNY per 1,000 tokens (trial chats).")
    ] = None,
    visibility: Annotated[
        str, typer.Option(help="private (your organization) or district (all).")
    ] = "private",
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """登记模型 / Register a model of your organization with its card."""
    with run_cli():
        try:
            price = Decimal(price_1k) if price_1k is not None else None
        except InvalidOperation:
            raise fail("error: --price-1k must be a decimal price per 1,000 tokens", 2) from None
        try:
            data = ModelIn(
                name=name,
                version=version,
                provider=provider,
                licence=licence,
                endpoint=endpoint,
                served_model=served_model,
                intended_use=intended_use,
                limitations=limitations,
                api_key_env=api_key_env,
                price_1k=price,
                visibility=visibility,
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            where = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else "input"
            raise fail(f"error: {where}: {err['msg']}", 2) from None
        with cli_uow(data_dir, as_user, require_user=True) as uow:
            out = service.register_model(uow=uow, actor=uow.actor, data=data)
        emit(out.model_dump(mode="json"), json_out)


@models_app.command("list")
def list_(data_dir: DataDir = None, as_user: AsUser = None, json_out: JsonOut = False) -> None:
    """列出模型 / List the models you may read (your organization's and district-shared)."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        rows = service.list_models(uow=uow, actor=uow.actor)
        emit(
            [
                {
                    "id": m.id,
                    "name": m.name,
                    "version": m.version,
                    "provider": m.provider,
                    "visibility": m.visibility,
                    "endpoint": m.endpoint,
                }
                for m in rows
            ],
            json_out,
        )


@models_app.command("show")
def show(
    model_id: Annotated[int, typer.Argument(min=1, max=2**31 - 1, help="Model id.")],
    data_dir: DataDir = None,
    as_user: AsUser = None,
    json_out: JsonOut = False,
) -> None:
    """模型卡 / Show a model's card, its evaluation history and its versions' scores."""
    with run_cli(), cli_uow(data_dir, as_user, require_user=True, read_only=True) as uow:
        card = service.model_card(uow=uow, actor=uow.actor, model_id=model_id)
        doc: dict[str, Any] = card.model_dump(mode="json")
        emit(doc, json_out)
