"""REST API of policy (mounted at /api/policy): profiles, eligibility, push, requests, indicators.

The corpus and Q&A routes live in ``api_corpus.py`` and are included here. Every route depends
on ``require(...)``; an enterprise sees its own profile, notifications and requests, officials
those of the organizations they oversee.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile

from mingyue.enablers.policy.api_corpus import router as corpus_router
from mingyue.enablers.policy.schemas_service import (
    AlertOut,
    BenefitOut,
    CampaignIn,
    CampaignOut,
    CheckRunOut,
    DispatchIn,
    DispatchReportOut,
    IndicatorOut,
    MatchOut,
    MeasureOut,
    OptOutIn,
    ProfileIn,
    ProfileOut,
    PushOut,
    RankingOut,
    RequestIn,
    RequestOut,
    SeriesOut,
    UploadOut,
)
from mingyue.enablers.policy.service import benefits, dispatch, indicators, profiles, push
from mingyue.sdk import Actor
from mingyue.web.deps import IdPath, UoW, require

router = APIRouter(tags=["policy"])
router.include_router(corpus_router)

Reader = Annotated[Actor, Depends(require("policy.read"))]
ProfileManager = Annotated[Actor, Depends(require("policy.profile.manage"))]
Campaigner = Annotated[Actor, Depends(require("policy.campaign.run"))]
Submitter = Annotated[Actor, Depends(require("policy.request.submit"))]
Dispatcher = Annotated[Actor, Depends(require("policy.request.dispatch"))]
Statistician = Annotated[Actor, Depends(require("policy.indicator.manage"))]
OrgId = Annotated[int | None, Query(ge=1, le=2**31 - 1)]
Key = Annotated[str, Query(min_length=1, max_length=80)]
IndicatorKey = Annotated[str, Path(min_length=1, max_length=40, pattern="^[a-z][a-z0-9_]*$")]


# -- profiles and eligibility -------------------------------------------------------------------


@router.get("/profile", operation_id="policy-get_profile")
def get_profile(uow: UoW, actor: Reader, organization_id: OrgId = None) -> ProfileOut:
    """The actor's own enterprise profile (officials: ``organization_id`` of one they oversee)."""
    return profiles.get_profile(uow=uow, actor=actor, organization_id=organization_id)


@router.put("/profile", operation_id="policy-update_profile")
def update_profile(body: ProfileIn, uow: UoW, actor: ProfileManager) -> ProfileOut:
    """Save the enterprise's own profile (every field as given)."""
    return profiles.update_profile(uow=uow, actor=actor, body=body)


@router.put("/profile/opt-out", operation_id="policy-set_opt_out")
def set_opt_out(body: OptOutIn, uow: UoW, actor: ProfileManager) -> ProfileOut:
    """Turn policy pushes off (they are logged, not shown) or on again."""
    return profiles.set_opt_out(uow=uow, actor=actor, opt_out=body.opt_out)


@router.get("/profiles", operation_id="policy-list_profiles")
def list_profiles(uow: UoW, actor: Reader) -> list[ProfileOut]:
    """The profiles in scope (an enterprise: its own)."""
    return profiles.list_profiles(uow=uow, actor=actor)


@router.get("/measures", operation_id="policy-list_measures")
def list_measures(actor: Reader) -> list[MeasureOut]:
    """Every support measure with the clause that grants it and its conditions."""
    return push.list_measures(actor=actor)


@router.get("/eligibility", operation_id="policy-eligibility")
def eligibility(
    uow: UoW, actor: Reader, organization_id: OrgId = None, measure: Key | None = None
) -> list[MatchOut]:
    """Eligible / likely / missing for each measure, with a reason per condition."""
    return push.eligibility(
        uow=uow, actor=actor, organization_id=organization_id, measure_key=measure
    )


# -- campaigns, notifications, approval lists ---------------------------------------------------


@router.post("/campaigns", operation_id="policy-start_campaign", status_code=202)
def start_campaign(body: CampaignIn, uow: UoW, actor: Campaigner) -> CampaignOut:
    """Push a measure to every matching enterprise (a job; 免申即享 measures list benefits)."""
    return push.start_campaign(uow=uow, actor=actor, body=body)


@router.get("/campaigns", operation_id="policy-list_campaigns")
def list_campaigns(uow: UoW, actor: Campaigner) -> list[CampaignOut]:
    """The push campaigns in scope, newest first."""
    return push.list_campaigns(uow=uow, actor=actor)


@router.get("/campaigns/{campaign_id}", operation_id="policy-get_campaign")
def get_campaign(campaign_id: IdPath, uow: UoW, actor: Campaigner) -> CampaignOut:
    """One campaign and its counts."""
    return push.get_campaign(uow=uow, actor=actor, campaign_id=campaign_id)


@router.get("/pushes", operation_id="policy-list_pushes")
def list_pushes(
    uow: UoW,
    actor: Reader,
    campaign_id: OrgId = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[PushOut]:
    """Notifications: an enterprise its own, officials every one (the push log)."""
    return push.list_pushes(uow=uow, actor=actor, campaign_id=campaign_id, limit=limit)


@router.post("/pushes/{push_id}/read", operation_id="policy-mark_read")
def mark_read(push_id: IdPath, uow: UoW, actor: Reader) -> PushOut:
    """Mark one of the enterprise's notifications read."""
    return push.mark_read(uow=uow, actor=actor, push_id=push_id)


@router.get("/benefits", operation_id="policy-list_benefits")
def list_benefits(
    uow: UoW,
    actor: Reader,
    status: Annotated[str | None, Query(pattern="^(proposed|granted|rejected)$")] = None,
) -> list[BenefitOut]:
    """The 免申即享 approval lists in scope (an enterprise: its own entries)."""
    return benefits.list_benefits(uow=uow, actor=actor, status=status)


# -- requests and dispatch ----------------------------------------------------------------------


@router.post("/requests", operation_id="policy-submit_request", status_code=201)
def submit_request(body: RequestIn, uow: UoW, actor: Submitter) -> RequestOut:
    """File a request: dispatched at once when the classifier is confident, else to the desk."""
    return dispatch.submit_request(uow=uow, actor=actor, body=body)


@router.get("/requests", operation_id="policy-list_requests")
def list_requests(
    uow: UoW,
    actor: Reader,
    status: Annotated[str | None, Query(max_length=20)] = None,
) -> list[RequestOut]:
    """Requests in scope, newest first (``status=review``: the dispatch desk's queue)."""
    return dispatch.list_requests(uow=uow, actor=actor, status=status)


@router.get("/requests/{request_id}", operation_id="policy-get_request")
def get_request(request_id: IdPath, uow: UoW, actor: Reader) -> RequestOut:
    """One request, what the classifier said and where it went."""
    return dispatch.get_request(uow=uow, actor=actor, request_id=request_id)


@router.post("/requests/{request_id}/dispatch", operation_id="policy-dispatch_request")
def dispatch_request(
    request_id: IdPath, body: DispatchIn, uow: UoW, actor: Dispatcher
) -> RequestOut:
    """Route a request waiting on the desk to a department with its kind (opens its case)."""
    return dispatch.dispatch_request(uow=uow, actor=actor, request_id=request_id, body=body)


@router.get("/dispatch/model", operation_id="policy-dispatch_model")
def dispatch_model(request: Request, actor: Reader) -> DispatchReportOut:
    """Accuracy and confusion matrices of the dispatch classifier on held-out requests."""
    return dispatch.model_report(actor=actor, settings=request.app.state.settings)


# -- indicators -------------------------------------------------------------------------------


@router.get("/indicators", operation_id="policy-list_indicators")
def list_indicators(actor: Reader) -> list[IndicatorOut]:
    """Indicator definitions: formula, unit, source, frequency, targets, responsible unit."""
    return indicators.list_indicators(actor=actor)


@router.get("/indicators/{indicator}/series", operation_id="policy-indicator_series")
def indicator_series(
    indicator: IndicatorKey,
    uow: UoW,
    actor: Reader,
    district: Annotated[str, Query(min_length=1, max_length=40)],
) -> SeriesOut:
    """One district's values over time with its target path and gaps."""
    return indicators.series(uow=uow, actor=actor, indicator=indicator, district=district)


@router.get("/indicators/{indicator}/ranking", operation_id="policy-indicator_ranking")
def indicator_ranking(
    indicator: IndicatorKey,
    uow: UoW,
    actor: Reader,
    period: Annotated[str | None, Query(max_length=20)] = None,
) -> RankingOut:
    """Districts ranked by completion of their target path (default: the latest period)."""
    return indicators.ranking(uow=uow, actor=actor, indicator=indicator, period=period)


@router.post("/indicators/uploads", operation_id="policy-upload_statistics", status_code=201)
def upload_statistics(
    uow: UoW,
    actor: Statistician,
    file: Annotated[UploadFile, File(description="CSV or XLSX: 指标, 地区, 期间, 数值[, 单位]")],
    strict: Annotated[bool, Form()] = False,
) -> UploadOut:
    """Read statistics; keep good rows, report bad ones by line; open cases for laggards."""
    return indicators.upload_statistics(uow=uow, actor=actor, upload=file, strict=strict)


@router.get("/indicators/uploads", operation_id="policy-list_uploads")
def list_uploads(uow: UoW, actor: Statistician) -> list[UploadOut]:
    """Statistics uploads in scope, newest first."""
    return indicators.list_uploads(uow=uow, actor=actor)


@router.get("/indicators/uploads/{upload_id}", operation_id="policy-get_upload")
def get_upload(upload_id: IdPath, uow: UoW, actor: Statistician) -> UploadOut:
    """One upload with its refused rows."""
    return indicators.get_upload(uow=uow, actor=actor, upload_id=upload_id)


@router.post("/indicators/check", operation_id="policy-check_indicators")
def check_indicators(uow: UoW, actor: Statistician) -> CheckRunOut:
    """Compare every indicator with its path now; open a case for each new laggard."""
    return indicators.check_lags(uow=uow, actor=actor)


@router.get("/indicators/alerts", operation_id="policy-list_alerts")
def list_alerts(uow: UoW, actor: Reader) -> list[AlertOut]:
    """Indicators found behind their path and their supervision cases."""
    return indicators.list_alerts(uow=uow, actor=actor)
