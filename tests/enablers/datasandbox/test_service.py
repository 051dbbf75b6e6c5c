"""Service: registration, the request → approval → job → gates → release flow, ledger, audit."""

from __future__ import annotations

import csv
from typing import Any

import pytest
from sqlalchemy import select

from mingyue.core.errors import Conflict, InvalidInput, NotFound
from mingyue.enablers.datasandbox import service
from mingyue.enablers.datasandbox.models import SandboxCharge


def _audit_actions(settings: Any) -> list[str]:
    from mingyue.core.audit import AuditEntry
    from mingyue.core.db import system_session

    with system_session(settings, "test audit") as s:
        return [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()]


@pytest.fixture()
def registered(tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any) -> dict[str, Any]:
    owner = actor_of(tenants.a.admin)
    with uow_as(owner) as uow:
        ent = service.register_dataset(uow=uow, actor=owner, source=demo_files.enterprises,
                                       name="enterprises", identifiers=["uscc"], quasi=["name"],
                                       min_group=5, epsilon_per_period=1.0, open_to_all=True)
        tax = service.register_dataset(uow=uow, actor=owner, source=demo_files.tax_credit,
                                       name="tax_credit", identifiers=["uscc"],
                                       sensitive=["tax_paid", "credit_rating"], min_group=5,
                                       epsilon_per_period=None, open_to_all=False)
    return {"owner": owner, "ent": ent, "tax": tax}


def test_register_and_catalogue(registered: dict[str, Any], tenants: Any, actor_of: Any,
                                uow_as: Any, demo_files: Any) -> None:
    other = actor_of(tenants.b.member)
    with uow_as(other) as uow:
        cat = service.list_datasets(uow=uow, actor=other)
        detail = service.get_dataset(uow=uow, actor=other, name="enterprises")
    assert [d.name for d in cat] == ["enterprises", "tax_credit"]
    assert "path" not in cat[0].model_dump_json() and cat[0].rows_rounded == 400
    assert detail.mock_preview and set(detail.mock_preview[0]) == {c.name for c in detail.columns}
    owner = registered["owner"]
    with pytest.raises(Conflict), uow_as(owner) as uow:
        service.register_dataset(uow=uow, actor=owner, source=demo_files.enterprises,
                                 name="enterprises", identifiers=["uscc"])
    with pytest.raises(InvalidInput), uow_as(owner) as uow:
        service.register_dataset(uow=uow, actor=owner, source=demo_files.enterprises,
                                 name="bad", identifiers=["no_such_column"])


def test_standing_policy_runs_and_charges(registered: dict[str, Any], tenants: Any,
                                         actor_of: Any, uow_as: Any, run_jobs: Any,
                                         settings: Any) -> None:
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
    for a in ("datasandbox.request.submitted", "datasandbox.request.approved",
              "datasandbox.request.executed", "datasandbox.budget.charged",
              "datasandbox.request.released", "core.usage.recorded"):
        assert a in actions, a
    # Exhaustion: 0.6 left, 0.7 asked → refused at submission, nothing charged.
    with uow_as(bank) as uow:
        ref = service.submit_query(uow=uow, actor=bank, sql=sql, epsilon=0.7)
        n_charges = len(uow.session.scalars(select(SandboxCharge)).all())
    assert ref.status == "refused" and ref.reason["rule"] == "budget.exhausted"
    assert n_charges == 1
    assert "datasandbox.request.refused" in _audit_actions(settings)


def test_attacks_are_refused_and_logged(registered: dict[str, Any], tenants: Any, actor_of: Any,
                                        uow_as: Any, settings: Any) -> None:
    bank = actor_of(tenants.b.member)
    for sql, rule in [("SELECT * FROM enterprises", "sql.select_star"),
                      ("SELECT uscc, count(*) FROM enterprises GROUP BY uscc",
                       "sql.group_by_identifier"),
                      ("SELECT count(*) FROM read_csv('/etc/passwd')", "sql.function_not_allowed"),
                      ("COPY enterprises TO '/tmp/x.csv'", "sql.statement_not_allowed")]:
        with uow_as(bank) as uow:
            out = service.submit_query(uow=uow, actor=bank, sql=sql, epsilon=0.1)
        assert out.status == "refused" and out.reason["rule"] == rule
    assert _audit_actions(settings).count("datasandbox.request.refused") == 4


def test_owner_approval_and_release_review(registered: dict[str, Any], tenants: Any,
                                          actor_of: Any, uow_as: Any, run_jobs: Any,
                                          settings: Any) -> None:
    owner, bank = registered["owner"], actor_of(tenants.b.member)
    sql = ("SELECT credit_rating, count(*) AS n, avg(tax_paid) AS t FROM tax_credit "
           "GROUP BY credit_rating")
    with uow_as(bank) as uow:
        out = service.submit_query(uow=uow, actor=bank, sql=sql)
    assert out.status == "pending_approval" and out.job_id is None
    with uow_as(owner) as uow:
        pend = service.pending_for_owner(uow=uow, actor=owner)
        assert [p.id for p in pend] == [out.id]
        service.decide(uow=uow, actor=owner, request_id=out.id, approve=True)
    ran = run_jobs()
    assert [j.status for j in ran] == ["succeeded"], ran
    with uow_as(bank) as uow:
        done = service.get_request(uow=uow, actor=bank, request_id=out.id)
    assert done.status == "released" and not done.reason
    assert sum(r["n"] for r in done.rows) == 800  # exact mode: no DP on this dataset
    # Another member of another org cannot decide.
    with pytest.raises(NotFound), uow_as(actor_of(tenants.b.admin)) as uow:
        service.decide(uow=uow, actor=actor_of(tenants.b.admin), request_id=out.id,
                       approve=True)
    with uow_as(bank) as uow:
        out2 = service.submit_query(uow=uow, actor=bank, sql=sql)
    with uow_as(owner) as uow:
        service.decide(uow=uow, actor=owner, request_id=out2.id, approve=False, comment="no")
    with uow_as(bank) as uow:
        rej = service.get_request(uow=uow, actor=bank, request_id=out2.id)
    assert rej.status == "rejected" and rej.rows is None
    assert "datasandbox.request.rejected" in _audit_actions(settings)


def test_verify_with_rate_limit(registered: dict[str, Any], tenants: Any, actor_of: Any,
                                uow_as: Any, demo_files: Any) -> None:
    bank = actor_of(tenants.b.member)
    with open(demo_files.enterprises, encoding="utf-8") as f:
        codes = [r["uscc"] for r in csv.DictReader(f)][:3]
    with uow_as(bank) as uow:
        out = service.verify(uow=uow, actor=bank, dataset="enterprises", ids=codes,
                             predicate="employees >= 0")
    assert out.status == "released" and [r["match"] for r in out.rows] == [True] * 3
    # tax_credit has no standing policy: verification is refused and recorded.
    with uow_as(bank) as uow:
        ref = service.verify(uow=uow, actor=bank, dataset="tax_credit", ids=codes,
                             predicate="credit_rating = 'A'")
    assert ref.status == "refused" and ref.reason["rule"] == "policy.approval_required"
    with uow_as(bank) as uow:
        lim = service.verify(uow=uow, actor=bank, dataset="enterprises", ids=codes * 40,
                             predicate="employees >= 0")
    assert lim.status == "refused" and lim.reason["rule"] == "verify.rate_limited"


def test_model_training_flow(tenants: Any, actor_of: Any, uow_as: Any, run_jobs: Any,
                             demo_files: Any, settings: Any) -> None:
    owner, lab = actor_of(tenants.a.admin), actor_of(tenants.b.member)
    with uow_as(owner) as uow:
        service.register_dataset(uow=uow, actor=owner, source=demo_files.patients,
                                 name="patients", identifiers=["person_hash", "employer_uscc"],
                                 quasi=["age", "sex"], sensitive=["progression"], min_group=10,
                                 epsilon_per_period=6.0, open_to_all=True)
    feats = ["age", "bmi", "bp", "s5"]
    with uow_as(lab) as uow:
        dp_req = service.submit_training(uow=uow, actor=lab, dataset="patients",
                                         template="dp_linear_regression", features=feats,
                                         target="progression", epsilon=5.0)
        exact = service.submit_training(uow=uow, actor=lab, dataset="patients",
                                        template="gradient_boosting", features=feats,
                                        target="progression")
        bad = service.submit_training(uow=uow, actor=lab, dataset="patients",
                                      template="linear_regression", features=["person_hash"],
                                      target="progression")
    assert dp_req.status == "approved"
    assert exact.status == "pending_approval"  # exact parameters of a DP dataset: owner decides
    assert bad.status == "refused" and bad.reason["rule"] == "train.identifier_feature"
    run_jobs()
    with uow_as(lab) as uow:
        done = service.get_request(uow=uow, actor=lab, request_id=dp_req.id)
        budget = {b.dataset: b for b in service.budgets(uow=uow, actor=lab)}
    assert done.status == "released" and done.rows is None
    assert set(done.model["metrics"]) == {"r2", "rmse"} and len(done.model["model"]["coef"]) == 4
    assert done.epsilon_spent == 5.0 and budget["patients"].left == pytest.approx(1.0)
    with uow_as(owner) as uow:
        service.decide(uow=uow, actor=owner, request_id=exact.id, approve=True)
    run_jobs()
    with uow_as(lab) as uow:
        gb = service.get_request(uow=uow, actor=lab, request_id=exact.id)
    assert gb.status == "released" and gb.model["n_parameters"] * 2 <= gb.model["rows_used"]
    assert "trees" in gb.model["model"]
