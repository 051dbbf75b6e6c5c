"""Model-training templates and verification products (yes/no, count, PSI)."""

from __future__ import annotations

import csv

import pytest

from mingyue.enablers.datasandbox.adapters.duckdb_local import DuckDBSandbox
from mingyue.enablers.datasandbox.engine import verify
from mingyue.enablers.datasandbox.engine.datasets import Dataset
from mingyue.enablers.datasandbox.engine.errors import Refusal
from mingyue.enablers.datasandbox.engine.training import TrainSpec, train

FEATURES = ["age", "bmi", "bp", "s5"]


@pytest.mark.parametrize(
    "template", ["linear_regression", "gradient_boosting", "dp_linear_regression"]
)
def test_templates_return_model_and_metrics_only(
    template: str, demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    r = train(
        TrainSpec(
            template, FEATURES, "progression", epsilon=5.0 if template.startswith("dp") else None
        ),
        demo_datasets["patients"],
        sandbox,
    )
    assert set(r.metrics) == {"r2", "rmse"}
    if not template.startswith("dp"):
        # The DP model's error is random by design (fresh Laplace noise each run): its accuracy
        # is asserted against the exact fit at a large budget in the test below.
        assert r.metrics["rmse"] < 120
    assert r.n_parameters * 2 <= r.rows_used
    assert (r.epsilon_spent == pytest.approx(5.0)) == template.startswith("dp")
    if template == "linear_regression":
        assert r.metrics["r2"] > 0.2 and len(r.model["coef"]) == 4


def test_dp_linear_regression_converges_to_the_exact_fit(
    demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    """With a huge budget the noise vanishes: the DP fit matches ordinary least squares."""
    exact = train(
        TrainSpec("linear_regression", FEATURES, "progression"), demo_datasets["patients"], sandbox
    )
    dp_fit = train(
        TrainSpec("dp_linear_regression", FEATURES, "progression", epsilon=1e5),
        demo_datasets["patients"],
        sandbox,
    )
    assert dp_fit.epsilon_spent == pytest.approx(1e5)
    assert dp_fit.metrics["rmse"] == pytest.approx(exact.metrics["rmse"], rel=0.05)


def test_logistic_regression(demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox) -> None:
    r = train(
        TrainSpec("logistic_regression", ["age", "bmi", "bp"], "sex"),
        demo_datasets["patients"],
        sandbox,
    )
    assert r.model["classes"] == ["1.0", "2.0"] and 0 <= r.metrics["accuracy"] <= 1


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        (TrainSpec("nearest_neighbors", FEATURES, "progression"), "train.template_not_allowed"),
        (
            TrainSpec("linear_regression", ["person_hash"], "progression"),
            "train.identifier_feature",
        ),
        (TrainSpec("linear_regression", FEATURES, "employer_uscc"), "train.identifier_feature"),
        # A booster big enough to encode the training rows.
        (
            TrainSpec(
                "gradient_boosting",
                FEATURES,
                "progression",
                params={"n_estimators": 400, "max_depth": 8},
            ),
            "train.too_many_parameters",
        ),
        (
            TrainSpec("gradient_boosting", FEATURES, "progression", params={"min_samples_leaf": 1}),
            "train.parameter_not_allowed",
        ),
    ],
)
def test_training_refusals(
    spec: TrainSpec, rule: str, demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    with pytest.raises(Refusal) as info:
        train(spec, demo_datasets["patients"], sandbox, min_group=1)
    assert info.value.rule == rule


def _rated(demo_files: object) -> tuple[list[str], list[str]]:
    with open(demo_files.tax_credit, encoding="utf-8") as f:  # type: ignore[attr-defined]
        rows = list(csv.DictReader(f))
    a = sorted({r["uscc"] for r in rows if r["credit_rating"] == "A" and r["year"] == "2025"})
    other = sorted({r["uscc"] for r in rows} - set(a))
    return a, other


def test_verify_yes_no_and_count(
    demo_files: object, demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    a, other = _rated(demo_files)
    ds = demo_datasets["tax_credit"]
    pred = "credit_rating = 'A' AND year = 2025"
    ids = a[:3] + other[:2] + ["9144030071526726XA"]
    r = verify.verify(ds, ids, pred, sandbox)
    assert r.answers == {**dict.fromkeys(a[:3], True), **dict.fromkeys(other[:2], False)}
    assert r.invalid == ["9144030071526726XA"]
    c = verify.verify(ds, ids, pred, sandbox, mode="count")
    assert c.count == 3 and c.answers is None
    with pytest.raises(Refusal) as info:
        verify.verify(ds, a[:1], "uscc = 'x'", sandbox)
    assert info.value.rule == "sql.identifier_in_filter"


def test_rate_limit() -> None:
    lim = verify.InMemoryRateLimiter()
    assert lim.take("bank", "tax", "2026-11-23", 80, 100) == 20
    with pytest.raises(Refusal) as info:
        lim.take("bank", "tax", "2026-11-23", 30, 100)
    assert info.value.rule == "verify.rate_limited"
    assert lim.take("bank", "tax", "2026-11-24", 30, 100) == 70


def test_private_set_intersection(
    demo_files: object, demo_datasets: dict[str, Dataset], sandbox: DuckDBSandbox
) -> None:
    a, other = _rated(demo_files)
    ds = demo_datasets["tax_credit"]
    pred = "credit_rating = 'A' AND year = 2025"
    mine = a[:4] + other[:6]
    client = verify.PsiClient(mine)  # size only: the sandbox never sees the list
    keys = ["credit_rating", "year"]  # the owner marks them verification keys
    reply = verify.psi_reply(ds, pred, client.request, sandbox, keys=keys)
    assert client.size(reply.setup, reply.response) == 4
    assert reply.server_set_size == verify.psi_bucket(len(a), 1) >= len(a)
    for i in mine:
        assert i.encode() not in client.request
    full = verify.PsiClient(mine, reveal_intersection=True)
    reply = verify.psi_reply(ds, pred, full.request, sandbox, reveal_intersection=True, keys=keys)
    assert full.intersection(reply.setup, reply.response) == sorted(a[:4])
