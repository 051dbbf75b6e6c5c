"""Service: registration, the request → approval → job → gates → release flow, ledger, audit."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core import cases
from mingyue.core.errors import Conflict, Forbidden, InvalidInput, NotFound, RecordedRefusal
from mingyue.enablers.datasandbox import service
from mingyue.enablers.datasandbox.models import SandboxCharge, SandboxDataset


def _audit_actions(settings: Any) -> list[str]:
    from mingyue.core.db import system_session
    from mingyue.core.ledger.audit import AuditEntry

    with system_session(settings, "test audit") as s:
        return [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()]


@pytest.fixture()
def registered(tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any) -> dict[str, Any]:
    owner = actor_of(tenants.a.admin)
    with uow_as(owner) as uow:
        ent = service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.enterprises,
            name="enterprises",
            identifiers=["uscc"],
            quasi=["name"],
            min_group=5,
            epsilon_per_period=1.0,
            open_to_all=True,
        )
        tax = service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.tax_credit,
            name="tax_credit",
            identifiers=["uscc"],
            sensitive=["tax_paid", "credit_rating"],
            min_group=5,
            epsilon_per_period=None,
            open_to_all=False,
        )
    return {"owner": owner, "ent": ent, "tax": tax}


def test_register_and_catalogue(
    registered: dict[str, Any], tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any
) -> None:
    other = actor_of(tenants.b.member)
    with uow_as(other) as uow:
        cat = service.list_datasets(uow=uow, actor=other)
        detail = service.get_dataset(uow=uow, actor=other, name="enterprises")
    assert [d.name for d in cat] == ["enterprises", "tax_credit"]
    assert "path" not in cat[0].model_dump_json() and cat[0].rows_rounded == 400
    assert detail.mock_preview and set(detail.mock_preview[0]) == {c.name for c in detail.columns}
    owner = registered["owner"]
    with pytest.raises(Conflict), uow_as(owner) as uow:
        service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.enterprises,
            name="enterprises",
            identifiers=["uscc"],
        )
    with pytest.raises(InvalidInput), uow_as(owner) as uow:
        service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.enterprises,
            name="bad",
            identifiers=["no_such_column"],
        )


def test_standing_policy_runs_and_charges(
    registered: dict[str, Any],
    tenants: Any,
    actor_of: Any,
    uow_as: Any,
    run_jobs: Any,
    settings: Any,
) -> None:
    bank = actor_of(tenants.b.member)
    sql = "SELECT industry, count(*) AS n FROM enterprises GROUP BY industry"
    with uow_as(bank) as uow:
        out = service.submit_query(uow=uow, actor=bank, sql=sql, epsilon=0.4)
    assert out.status == "approved" and out.job_id and out.rows is None
    assert out.preview and out.preview["outputs"][0]["scale"] == pytest.approx(2.5)
    run_jobs()
    with uow_as(bank) as uow:
        done = service.get_request(uow=uow, actor=bank, request_id=out.id)
        budget = service.budgets(uow=uow, actor=bank)
        usage_ok = uow.session is not None
    assert done.status == "released" and done.rows
    assert done.epsilon_spent == 0.4 and done.epsilon_left == pytest.approx(0.6)
    assert {b.dataset: b.left for b in budget}["enterprises"] == pytest.approx(0.6)
    assert usage_ok
    actions = _audit_actions(settings)
    for a in (
        "datasandbox.request.submitted",
        "datasandbox.request.approved",
        "datasandbox.request.executed",
        "datasandbox.budget.charged",
        "datasandbox.request.released",
        "core.usage.recorded",
    ):
        assert a in actions, a
    # Exhaustion: 0.6 left, 0.7 asked → refused at submission (429), recorded, nothing charged.
    with pytest.raises(RecordedRefusal) as err, uow_as(bank) as uow:
        service.submit_query(uow=uow, actor=bank, sql=sql, epsilon=0.7)
    ref = err.value
    assert ref.status == 429 and ref.key == "datasandbox.budget.exhausted"
    assert ref.document["status"] == "refused" and ref.document["rule"] == "budget.exhausted"
    assert ref.document["epsilon_spent"] == 0
    assert ref.document["epsilon_left"] == pytest.approx(0.6)
    with uow_as(bank) as uow:
        n_charges = len(uow.session.scalars(select(SandboxCharge)).all())
        kept = service.get_request(uow=uow, actor=bank, request_id=ref.document["id"])
    assert n_charges == 1 and kept.status == "refused"
    requests = [a for a in _audit_actions(settings) if a.startswith("datasandbox.request.")]
    assert requests[-2:] == ["datasandbox.request.submitted", "datasandbox.request.refused"]


def test_attacks_are_refused_and_logged(
    registered: dict[str, Any], tenants: Any, actor_of: Any, uow_as: Any, settings: Any
) -> None:
    bank = actor_of(tenants.b.member)
    for sql, rule in [
        ("SELECT * FROM enterprises", "sql.select_star"),
        ("SELECT uscc, count(*) FROM enterprises GROUP BY uscc", "sql.group_by_identifier"),
        ("SELECT count(*) FROM read_csv('/etc/passwd')", "sql.function_not_allowed"),
        ("COPY enterprises TO '/tmp/x.csv'", "sql.statement_not_allowed"),
    ]:
        with pytest.raises(RecordedRefusal) as err, uow_as(bank) as uow:
            service.submit_query(uow=uow, actor=bank, sql=sql, epsilon=0.1)
        assert err.value.status == 422 and err.value.document["reason"]["rule"] == rule
    assert _audit_actions(settings).count("datasandbox.request.refused") == 4


def _case_of(uow: Any, request_id: int, kind: str = "datasandbox.approval") -> cases.CaseOut:
    found = cases.list_cases(uow=uow, subject=f"datasandbox_request:{request_id}", kind=kind)
    assert len(found) == 1, found
    return found[0]


def test_owner_approval_and_release_review(
    registered: dict[str, Any],
    tenants: Any,
    actor_of: Any,
    uow_as: Any,
    run_jobs: Any,
    settings: Any,
    make_org: Any,
    make_user: Any,
) -> None:
    owner, bank = registered["owner"], actor_of(tenants.b.member)
    sql = (
        "SELECT credit_rating, count(*) AS n, avg(tax_paid) AS t FROM tax_credit "
        "GROUP BY credit_rating"
    )
    with uow_as(bank) as uow:
        out = service.submit_query(uow=uow, actor=bank, sql=sql)
    assert out.status == "pending_approval" and out.job_id is None
    with uow_as(owner) as uow:
        pend = service.pending_for_owner(uow=uow, actor=owner)
        case = _case_of(uow, out.id)
    assert [p.id for p in pend] == [case.id] and case.organization_id == tenants.a.org.id
    assert case.data["spec"]["sql"] == sql and case.data["consumer_org_id"] == tenants.b.org.id
    # The consumer's admin and a third organization's admin cannot see nor decide the case.
    third = actor_of(make_user(make_org(), roles=("org_admin",)))
    for outsider in (actor_of(tenants.b.admin), third):
        with pytest.raises(NotFound), uow_as(outsider) as uow:
            cases.transition(uow=uow, case_id=case.id, name="approve")
        with uow_as(outsider) as uow:
            assert case.id not in [c.id for c in cases.list_cases(uow=uow)]
    with pytest.raises(Forbidden), uow_as(actor_of(tenants.a.member)) as uow:
        cases.transition(uow=uow, case_id=case.id, name="approve")
    with uow_as(owner) as uow:
        done_case = cases.transition(uow=uow, case_id=case.id, name="approve")
    assert done_case.state == "approved"
    ran = run_jobs()
    assert [j.status for j in ran] == ["succeeded"], ran
    with uow_as(bank) as uow:
        done = service.get_request(uow=uow, actor=bank, request_id=out.id)
    assert done.status == "released" and not done.reason
    assert sum(r["n"] for r in done.rows) == 800  # exact mode: no DP on this dataset
    with uow_as(bank) as uow:
        out2 = service.submit_query(uow=uow, actor=bank, sql=sql)
    with uow_as(owner) as uow:
        cases.transition(uow=uow, case_id=_case_of(uow, out2.id).id, name="reject", comment="no")
    with uow_as(bank) as uow:
        rej = service.get_request(uow=uow, actor=bank, request_id=out2.id)
    assert rej.status == "refused" and rej.rows is None
    assert rej.reason["rule"] == "owner.rejected" and rej.reason["message"] == "no"
    assert "datasandbox.request.rejected" in _audit_actions(settings)
    # Release review: the owner's policy holds results for review in a second case.
    _set_policy(settings, "tax_credit", release_review=True)
    with uow_as(bank) as uow:
        out3 = service.submit_query(uow=uow, actor=bank, sql=sql)
        out4 = service.submit_query(uow=uow, actor=bank, sql=sql)
    with uow_as(owner) as uow:
        for r in (out3, out4):
            cases.transition(uow=uow, case_id=_case_of(uow, r.id).id, name="approve")
    run_jobs()
    with uow_as(bank) as uow:
        held = service.get_request(uow=uow, actor=bank, request_id=out3.id)
    assert held.status == "in_review" and held.rows is None
    with uow_as(owner) as uow:
        review = _case_of(uow, out3.id, "datasandbox.release")
        assert sum(r["n"] for r in review.data["rows"]) == 800 and not review.data["rows_cut"]
        cases.transition(uow=uow, case_id=review.id, name="release")
        cases.transition(
            uow=uow,
            case_id=_case_of(uow, out4.id, "datasandbox.release").id,
            name="withhold",
            comment="too fine-grained",
        )
    with uow_as(bank) as uow:
        rel = service.get_request(uow=uow, actor=bank, request_id=out3.id)
        wh = service.get_request(uow=uow, actor=bank, request_id=out4.id)
    assert rel.status == "released" and sum(r["n"] for r in rel.rows) == 800
    assert wh.status == "refused" and wh.rows is None and wh.reason["rule"] == "owner.withheld"
    assert wh.reason["message"] == "too fine-grained"
    actions = _audit_actions(settings)
    assert "datasandbox.request.review_requested" in actions
    assert "datasandbox.request.withheld" in actions


def _set_policy(settings: Any, name: str, **changes: Any) -> None:
    from mingyue.core.db import system_session

    with system_session(settings, "test policy") as s:
        row = s.scalars(select(SandboxDataset).where(SandboxDataset.name == name)).one()
        row.policy = {**row.policy, **changes}


def test_two_owners_both_decide(
    tenants: Any,
    actor_of: Any,
    uow_as: Any,
    run_jobs: Any,
    demo_files: Any,
    make_org: Any,
    make_user: Any,
) -> None:
    a, bank = actor_of(tenants.a.admin), actor_of(tenants.b.member)
    c = actor_of(make_user(make_org(), roles=("org_admin",)))
    with uow_as(a) as uow:
        service.register_dataset(
            uow=uow,
            actor=a,
            source=demo_files.tax_credit,
            name="tax_credit",
            identifiers=["uscc"],
            min_group=5,
            epsilon_per_period=None,
        )
    with uow_as(c) as uow:
        service.register_dataset(
            uow=uow,
            actor=c,
            source=demo_files.enterprises,
            name="enterprises",
            identifiers=["uscc"],
            min_group=5,
            epsilon_per_period=None,
        )
    sql = (
        "SELECT e.industry, count(*) AS n FROM tax_credit t JOIN enterprises e "
        "ON t.uscc = e.uscc GROUP BY e.industry"
    )
    with uow_as(bank) as uow:
        first = service.submit_query(uow=uow, actor=bank, sql=sql)
        second = service.submit_query(uow=uow, actor=bank, sql=sql)
    assert first.status == second.status == "pending_approval"
    # Both owners must approve: one approval alone runs nothing.
    with uow_as(a) as uow:
        cases.transition(uow=uow, case_id=_case_of(uow, first.id).id, name="approve")
    with uow_as(bank) as uow:
        assert service.get_request(uow=uow, actor=bank, request_id=first.id).status == (
            "pending_approval"
        )
    with uow_as(c) as uow:
        cases.transition(uow=uow, case_id=_case_of(uow, first.id).id, name="approve")
    assert [j.status for j in run_jobs()] == ["succeeded"]
    # One owner's rejection refuses the request and closes the other owner's case.
    with uow_as(a) as uow:
        cases.transition(
            uow=uow,
            case_id=_case_of(uow, second.id).id,
            name="reject",
            comment="not for this purpose",
        )
    with uow_as(c) as uow:
        other = _case_of(uow, second.id)
    assert other.state == "closed"
    with uow_as(bank) as uow:
        got = {r.id: r for r in service.list_requests(uow=uow, actor=bank)}
    assert got[first.id].status == "released" and got[second.id].status == "refused"
    with uow_as(c) as uow, pytest.raises(Conflict):
        cases.transition(uow=uow, case_id=other.id, name="approve")


@pytest.mark.usefixtures("midday")
def test_verify_with_rate_limit(
    registered: dict[str, Any], tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any
) -> None:
    bank = actor_of(tenants.b.member)
    with open(demo_files.enterprises, encoding="utf-8") as f:
        codes = [r["uscc"] for r in csv.DictReader(f)][:3]
    with uow_as(bank) as uow:
        out = service.verify(
            uow=uow, actor=bank, dataset="enterprises", ids=codes, predicate="employees >= 0"
        )
    assert out.status == "released" and [r["match"] for r in out.rows] == [True] * 3
    # tax_credit has no standing policy: verification is refused and recorded.
    with pytest.raises(RecordedRefusal) as ref, uow_as(bank) as uow:
        service.verify(
            uow=uow, actor=bank, dataset="tax_credit", ids=codes, predicate="credit_rating = 'A'"
        )
    assert ref.value.status == 403 and ref.value.document["rule"] == "policy.approval_required"
    with pytest.raises(RecordedRefusal) as lim, uow_as(bank) as uow:
        service.verify(
            uow=uow, actor=bank, dataset="enterprises", ids=codes * 40, predicate="employees >= 0"
        )
    assert lim.value.status == 429 and lim.value.document["rule"] == "verify.rate_limited"
    with uow_as(bank) as uow:  # both refusals are on record; the counter kept only the 3 ids
        kept = [r.status for r in service.list_requests(uow=uow, actor=bank)]
        assert kept == ["refused", "refused", "released"]
        out = service.verify(
            uow=uow, actor=bank, dataset="enterprises", ids=codes, predicate="employees >= 0"
        )
    assert out.status == "released"


def test_model_training_flow(
    tenants: Any, actor_of: Any, uow_as: Any, run_jobs: Any, demo_files: Any, settings: Any
) -> None:
    owner, lab = actor_of(tenants.a.admin), actor_of(tenants.b.member)
    with uow_as(owner) as uow:
        service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.patients,
            name="patients",
            identifiers=["person_hash", "employer_uscc"],
            quasi=["age", "sex"],
            sensitive=["progression"],
            min_group=10,
            epsilon_per_period=6.0,
            open_to_all=True,
        )
    feats = ["age", "bmi", "bp", "s5"]
    with uow_as(lab) as uow:
        dp_req = service.submit_training(
            uow=uow,
            actor=lab,
            dataset="patients",
            template="dp_linear_regression",
            features=feats,
            target="progression",
            epsilon=5.0,
        )
        exact = service.submit_training(
            uow=uow,
            actor=lab,
            dataset="patients",
            template="gradient_boosting",
            features=feats,
            target="progression",
        )
    with pytest.raises(RecordedRefusal) as bad, uow_as(lab) as uow:
        service.submit_training(
            uow=uow,
            actor=lab,
            dataset="patients",
            template="linear_regression",
            features=["person_hash"],
            target="progression",
        )
    assert dp_req.status == "approved"
    assert exact.status == "pending_approval"  # exact parameters of a DP dataset: owner decides
    assert bad.value.status == 422
    assert bad.value.document["reason"]["rule"] == "train.identifier_feature"
    run_jobs()
    with uow_as(lab) as uow:
        done = service.get_request(uow=uow, actor=lab, request_id=dp_req.id)
        budget = {b.dataset: b for b in service.budgets(uow=uow, actor=lab)}
    assert done.status == "released" and done.rows is None
    assert set(done.model["metrics"]) == {"r2", "rmse"} and len(done.model["model"]["coef"]) == 4
    assert done.epsilon_spent == 5.0 and budget["patients"].left == pytest.approx(1.0)
    with uow_as(owner) as uow:
        cases.transition(uow=uow, case_id=_case_of(uow, exact.id).id, name="approve")
    run_jobs()
    with uow_as(lab) as uow:
        gb = service.get_request(uow=uow, actor=lab, request_id=exact.id)
    assert gb.status == "released" and gb.model["n_parameters"] * 2 <= gb.model["rows_used"]
    assert "trees" in gb.model["model"]


def test_owners_approving_at_once_run_the_request_once(
    tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any, make_org: Any, make_user: Any
) -> None:
    import threading
    import time

    a, bank = actor_of(tenants.a.admin), actor_of(tenants.b.member)
    c = actor_of(make_user(make_org(), roles=("org_admin",)))
    for owner, src, name in (
        (a, demo_files.tax_credit, "tax_credit"),
        (c, demo_files.enterprises, "enterprises"),
    ):
        with uow_as(owner) as uow:
            service.register_dataset(
                uow=uow,
                actor=owner,
                source=src,
                name=name,
                identifiers=["uscc"],
                min_group=5,
                epsilon_per_period=None,
            )
    with uow_as(bank) as uow:
        req = service.submit_query(
            uow=uow,
            actor=bank,
            sql=(
                "SELECT e.industry, count(*) AS n FROM tax_credit t JOIN enterprises e "
                "ON t.uscc = e.uscc GROUP BY e.industry"
            ),
        )
    with uow_as(c) as uow:
        c_case = _case_of(uow, req.id).id
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with uow_as(c) as uow:
                cases.transition(uow=uow, case_id=c_case, name="approve")
        except BaseException as exc:  # reported below
            errors.append(exc)

    # a's approval is not committed yet when c approves: c must wait for it, not miss it.
    with uow_as(a) as uow:
        cases.transition(uow=uow, case_id=_case_of(uow, req.id).id, name="approve")
        t = threading.Thread(target=second)
        t.start()
        time.sleep(1.0)
    t.join(60)
    assert not errors, errors
    with uow_as(bank) as uow:
        done = service.get_request(uow=uow, actor=bank, request_id=req.id)
    assert done.status == "approved" and done.job_id is not None


def test_approval_case_shows_parameters_and_fits(
    registered: dict[str, Any], tenants: Any, actor_of: Any, uow_as: Any
) -> None:
    owner, bank = registered["owner"], actor_of(tenants.b.member)
    sql = "SELECT count(*) AS n FROM tax_credit WHERE credit_rating = ? AND tax_paid > ?"
    with uow_as(bank) as uow:
        small = service.submit_query(uow=uow, actor=bank, sql=sql, params=["A", 0])
        big = service.submit_query(uow=uow, actor=bank, sql=sql, params=["A" * 9000, 0])
    with uow_as(owner) as uow:
        shown, cut = _case_of(uow, small.id).data, _case_of(uow, big.id).data
    assert shown["spec"]["params"] == ["A", 0] and "params_cut" not in shown["spec"]
    assert shown["preview"]["dp"] is False and shown["executed_sql"]
    assert cut["spec"]["params"] is None and cut["spec"]["params_cut"] is True
