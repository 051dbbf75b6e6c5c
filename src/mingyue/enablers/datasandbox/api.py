"""REST API of the data sandbox, mounted at /api/datasandbox."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile

from mingyue.sdk import Actor, InvalidInput
from mingyue.web.deps import UoW, require

from . import service
from .schemas import (
    BudgetOut,
    DatasetDetail,
    DatasetOut,
    PsiIn,
    PsiOut,
    QueryIn,
    RequestOut,
    TrainIn,
    VerifyIn,
)
from .sources.api import router as sources_router

router = APIRouter(tags=["datasandbox"])
# A refused computation answers its recorded request (status "refused", reason with the rule,
# epsilon_spent 0, epsilon_left) with the status of its rule: see requests.refusal_status.
_REFUSED: dict[int | str, dict[str, Any]] = {
    403: {"model": RequestOut, "description": "Refused by the usage policy (policy.*)"},
    422: {
        "description": "Refused input: SQL outside the allow-list, invalid spec (sql.*, "
        "train.*, verify.*, dp.*, gate.*), or a malformed body"
    },
    429: {
        "model": RequestOut,
        "description": "Privacy budget exhausted (budget.exhausted) or "
        "daily verification limit reached "
        "(verify.rate_limited)",
    },
}


@router.get("/datasets", operation_id="datasandbox-list_datasets")
def list_datasets(
    uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.dataset.read"))]
) -> list[DatasetOut]:
    return service.list_datasets(uow=uow, actor=actor)


@router.get("/datasets/{name}", operation_id="datasandbox-get_dataset")
def get_dataset(
    name: str, uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.dataset.read"))]
) -> DatasetDetail:
    return service.get_dataset(uow=uow, actor=actor, name=name)


@router.post("/datasets", operation_id="datasandbox-register_dataset", status_code=201)
def register_dataset(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("datasandbox.dataset.register"))],
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form()],
    identifiers: Annotated[list[str] | None, Form()] = None,
    quasi: Annotated[list[str] | None, Form()] = None,
    sensitive: Annotated[list[str] | None, Form()] = None,
    min_group: Annotated[int, Form(ge=1)] = 10,
    epsilon_per_period: Annotated[float, Form(ge=0)] = 3.0,
    open_to_all: Annotated[bool, Form()] = False,
    description: Annotated[str, Form(max_length=2000)] = "",
    verify_keys: Annotated[list[str] | None, Form()] = None,
) -> DatasetOut:
    return service.register_upload(
        uow=uow,
        actor=actor,
        data=file.file,
        filename=file.filename,
        name=name,
        identifiers=identifiers or [],
        quasi=quasi or [],
        sensitive=sensitive or [],
        min_group=min_group,
        epsilon_per_period=epsilon_per_period or None,
        open_to_all=open_to_all,
        description=description,
        verify_keys=verify_keys,
    )


@router.post(
    "/queries", operation_id="datasandbox-submit_query", status_code=201, responses=_REFUSED
)
def submit_query(
    body: QueryIn, uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.query.submit"))]
) -> RequestOut:
    return service.submit_query(uow=uow, actor=actor, **body.model_dump())


@router.post(
    "/trainings", operation_id="datasandbox-submit_training", status_code=201, responses=_REFUSED
)
def submit_training(
    body: TrainIn, uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.query.submit"))]
) -> RequestOut:
    return service.submit_training(uow=uow, actor=actor, **body.model_dump())


@router.post("/verify", operation_id="datasandbox-verify", responses=_REFUSED)
def verify(
    body: VerifyIn, uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.verify"))]
) -> RequestOut:
    return service.verify(uow=uow, actor=actor, **body.model_dump())


@router.post("/psi", operation_id="datasandbox-psi", responses=_REFUSED)
def psi(
    body: PsiIn, uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.verify"))]
) -> PsiOut:
    try:
        request = base64.b64decode(body.request_b64, validate=True)
    except binascii.Error as exc:
        raise InvalidInput(
            "datasandbox.verify.psi_request", "request_b64 is not base64", field="request_b64"
        ) from exc
    return service.psi(
        uow=uow,
        actor=actor,
        dataset=body.dataset,
        predicate=body.predicate,
        request=request,
        reveal_intersection=body.reveal_intersection,
    )


@router.get("/requests", operation_id="datasandbox-list_requests")
def list_requests(
    uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.request.read"))]
) -> list[RequestOut]:
    return service.list_requests(uow=uow, actor=actor)


@router.get("/requests/{request_id}", operation_id="datasandbox-get_request")
def get_request(
    request_id: int, uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.request.read"))]
) -> RequestOut:
    return service.get_request(uow=uow, actor=actor, request_id=request_id)


@router.get("/budget", operation_id="datasandbox-budget")
def budget(
    uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.budget.read"))]
) -> list[BudgetOut]:
    return service.budgets(uow=uow, actor=actor)


@router.get("/budget/ledger", operation_id="datasandbox-budget_ledger")
def budget_ledger(
    uow: UoW, actor: Annotated[Actor, Depends(require("datasandbox.budget.read"))]
) -> list[dict[str, Any]]:
    return service.charges(uow=uow, actor=actor)


router.include_router(sources_router)  # PostgreSQL sources: /sources/…, /datasets/{name}/…
