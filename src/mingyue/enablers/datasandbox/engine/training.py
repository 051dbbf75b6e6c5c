"""Model-training templates: only coefficients or a booster and evaluation metrics leave.

Templates (scikit-learn 1.9): linear regression, logistic regression, gradient boosting, and a
differentially private linear regression by sufficient-statistics perturbation with OpenDP's
Laplace measurement (diffprivlib needs scikit-learn < 1.8, which the platform does not pin).
Output checks: features and target are never identifiers; a model with more than one parameter
per two training rows is refused (it could encode the rows); a model whose serialised form
contains any identifier value of the data is refused; boosted trees need min_samples_leaf ≥ the
policy's minimum group size, so no leaf describes fewer records than a released group could.
"""

# ruff: noqa: S608  (SQL is built from checked, quoted column names; the path is bound)
from __future__ import annotations

import json
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .datasets import ColumnClass, Dataset
from .errors import InvalidSpec, Refusal

if TYPE_CHECKING:
    from mingyue.enablers.datasandbox.adapters.base import WorkerEngine

TEMPLATES = (
    "linear_regression",
    "logistic_regression",
    "gradient_boosting",
    "dp_linear_regression",
)


@dataclass
class TrainSpec:
    """What the consumer asks for."""

    template: str
    features: list[str]
    target: str
    params: dict[str, Any] = field(default_factory=dict)
    epsilon: float | None = None  # dp_linear_regression only


@dataclass
class TrainResult:
    """The model and its metrics — nothing row-level."""

    template: str
    model: dict[str, Any]
    metrics: dict[str, float]
    n_parameters: int
    rows_used: int
    epsilon_spent: float
    cpu_seconds: float


def check_spec(spec: TrainSpec, ds: Dataset, min_group: int) -> None:
    """Refuse templates, features and parameters that could carry rows out."""
    if spec.template not in TEMPLATES:
        raise Refusal(
            "train.template_not_allowed",
            f"template {spec.template!r} is not offered ({', '.join(TEMPLATES)})",
            template=spec.template,
        )
    if not spec.features:
        raise InvalidSpec("train.no_features", "choose at least one feature")
    for name in [*spec.features, spec.target]:
        c = ds.column(name)
        if c is None:
            raise Refusal("sql.unknown_column", f"{ds.name} has no column {name!r}", column=name)
        if c.cls is ColumnClass.IDENTIFIER:
            raise Refusal(
                "train.identifier_feature",
                f"identifier {name} cannot be a feature or the target",
                column=name,
            )
        if name != spec.target and not c.is_numeric:
            raise Refusal("train.feature_type", f"feature {name} is not numeric", column=name)
    allowed = {
        "gradient_boosting": {"n_estimators", "max_depth", "learning_rate"},
        "logistic_regression": {"C"},
        "linear_regression": set(),
        "dp_linear_regression": set(),
    }[spec.template]
    extra = set(spec.params) - allowed
    if extra:
        raise Refusal(
            "train.parameter_not_allowed",
            f"parameters not allowed: {sorted(extra)}",
            params=sorted(extra),
        )
    if spec.template == "dp_linear_regression":
        if not spec.epsilon or spec.epsilon <= 0:
            raise InvalidSpec("dp.epsilon", "the DP template needs epsilon > 0")
        for name in [*spec.features, spec.target]:
            c = ds.column(name)
            if c is None or c.bounds is None:
                raise Refusal("dp.no_bounds", f"{name} has no clamping bounds", column=name)
    del min_group


def train_in_worker(
    path: str,
    spec: dict[str, Any],
    id_columns: list[str],
    min_group: int,
    bounds: dict[str, list[float]],
    contributions: int,
) -> dict[str, Any]:
    """Fit the template inside the sandbox process and return the checked model as data."""

    import duckdb  # lazy: datasandbox extra, heavy
    import numpy as np  # lazy: datasandbox extra, heavy

    c0 = resource.getrusage(resource.RUSAGE_SELF)
    cols = [*spec["features"], spec["target"]]
    con = duckdb.connect()
    quoted = ", ".join(f'"{c}"' for c in cols)
    arr = con.sql(
        f"SELECT {quoted} FROM read_parquet($p) WHERE "
        + " AND ".join(f'"{c}" IS NOT NULL' for c in cols),
        params={"p": path},
    ).fetchnumpy()
    ids: set[str] = set()
    for c in id_columns:
        ids |= {
            str(v)
            for v in con.sql(
                f'SELECT DISTINCT "{c}" FROM read_parquet($p)', params={"p": path}
            ).fetchnumpy()[c]
        }
    con.close()
    x = np.column_stack([np.asarray(arr[f], dtype=float) for f in spec["features"]])
    y_raw = np.asarray(arr[spec["target"]])
    n = len(y_raw)
    if n < max(2 * min_group, 20):
        raise Refusal(
            "gate.small_group", f"{n} usable rows are too few to train on", min_group=min_group
        )
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    cut = int(n * 0.8)
    tr, te = order[:cut], order[cut:]
    t = spec["template"]
    params = spec.get("params") or {}
    model: dict[str, Any]
    metrics: dict[str, float]
    eps = 0.0
    if t in ("linear_regression", "dp_linear_regression"):
        y = y_raw.astype(float)
        if t == "linear_regression":
            from sklearn.linear_model import LinearRegression  # lazy: datasandbox extra, heavy

            m = LinearRegression().fit(x[tr], y[tr])
            coef, intercept = m.coef_.tolist(), float(m.intercept_)
        else:
            coef, intercept, eps = _dp_linear(x[tr], y[tr], spec, bounds, contributions)
        pred = x[te] @ np.asarray(coef) + intercept
        ss = float(((y[te] - y[te].mean()) ** 2).sum()) or 1.0
        metrics = {
            "r2": 1 - float(((y[te] - pred) ** 2).sum()) / ss,
            "rmse": float(np.sqrt(((y[te] - pred) ** 2).mean())),
        }
        model = {"features": spec["features"], "coef": coef, "intercept": intercept}
        n_params = len(coef) + 1
    elif t == "logistic_regression":
        from sklearn.linear_model import LogisticRegression  # lazy: datasandbox extra, heavy
        from sklearn.preprocessing import StandardScaler  # lazy: datasandbox extra, heavy

        y = y_raw.astype(str)
        scaler = StandardScaler().fit(x[tr])
        m = LogisticRegression(C=float(params.get("C", 1.0)), max_iter=500).fit(
            scaler.transform(x[tr]), y[tr]
        )
        acc = float((m.predict(scaler.transform(x[te])) == y[te]).mean())
        model = {
            "features": spec["features"],
            "classes": [str(c) for c in m.classes_],
            "coef": m.coef_.tolist(),
            "intercept": m.intercept_.tolist(),
            "scaler_mean": scaler.mean_.tolist(),
            "scaler_scale": scaler.scale_.tolist(),
        }
        metrics = {"accuracy": acc}
        n_params = int(m.coef_.size + m.intercept_.size)
    else:
        from sklearn.ensemble import GradientBoostingRegressor  # lazy: datasandbox extra, heavy

        y = y_raw.astype(float)
        m = GradientBoostingRegressor(
            n_estimators=int(params.get("n_estimators", 20)),
            max_depth=int(params.get("max_depth", 2)),
            learning_rate=float(params.get("learning_rate", 0.1)),
            min_samples_leaf=max(min_group, 1),
            random_state=0,
        ).fit(x[tr], y[tr])
        pred = m.predict(x[te])
        ss = float(((y[te] - y[te].mean()) ** 2).sum()) or 1.0
        metrics = {
            "r2": 1 - float(((y[te] - pred) ** 2).sum()) / ss,
            "rmse": float(np.sqrt(((y[te] - pred) ** 2).mean())),
        }
        trees = []
        n_params = 0
        for est in m.estimators_[:, 0]:
            tree = est.tree_
            trees.append(
                {
                    "feature": tree.feature.tolist(),
                    "threshold": tree.threshold.tolist(),
                    "left": tree.children_left.tolist(),
                    "right": tree.children_right.tolist(),
                    "value": tree.value[:, 0, 0].tolist(),
                }
            )
            n_params += int(tree.node_count)  # one threshold or leaf value per node
        model = {
            "features": spec["features"],
            "init": float(m.init_.constant_[0][0]),
            "learning_rate": m.learning_rate,
            "trees": trees,
        }
    # Output checks: a model with about as many parameters as rows can memorise them.
    if n_params * 2 > cut:
        raise Refusal(
            "train.too_many_parameters",
            f"the model has {n_params} parameters for {cut} training rows (limit: rows / 2)",
            parameters=n_params,
            rows=cut,
        )
    blob = json.dumps(model, ensure_ascii=False)
    leaked = [i for i in ids if i and i in blob]
    if leaked:
        raise Refusal("train.memorised_identifier", "the model contains identifier values")
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    return {
        "template": t,
        "model": model,
        "metrics": metrics,
        "n_parameters": n_params,
        "rows_used": n,
        "epsilon_spent": eps,
        "cpu_seconds": cpu,
    }


def _dp_linear(
    x: Any, y: Any, spec: dict[str, Any], bounds: dict[str, list[float]], contributions: int
) -> tuple[list[float], float, float]:
    """Linear regression from Laplace-perturbed sufficient statistics (XᵀX, Xᵀy) via OpenDP."""
    import numpy as np  # lazy: datasandbox extra, heavy
    import opendp.prelude as dp  # lazy: datasandbox extra, heavy

    dp.enable_features("contrib")
    feats = spec["features"]
    lo = np.array([bounds[f][0] for f in feats])
    hi = np.array([bounds[f][1] for f in feats])
    ylo, yhi = bounds[spec["target"]]
    # Scale every feature to [-1, 1] and y to [-1, 1]: each row's entries of the augmented
    # [x, 1, y] outer product then lie in [-1, 1].
    xs = 2 * (np.clip(x, lo, hi) - lo) / (hi - lo) - 1
    ys = 2 * (np.clip(y, ylo, yhi) - ylo) / (yhi - ylo) - 1
    z = np.column_stack([xs, np.ones(len(xs)), ys])
    d = z.shape[1]
    iu = np.triu_indices(d)
    stats = (z.T @ z)[iu]
    # Adding or removing one unit (k rows) moves each upper-triangle entry by at most k.
    sens = float(contributions * len(stats))
    scale = sens / float(spec["epsilon"])
    meas = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l1_distance(T=float), scale=scale
    )
    noisy = np.asarray(meas(stats.tolist()))
    eps = float(meas.map(sens))  # type: ignore[no-untyped-call]  # opendp ships no types
    mat = np.zeros((d, d))
    mat[iu] = noisy
    mat = mat + mat.T - np.diag(np.diag(mat))
    xtx, xty = mat[: d - 1, : d - 1], mat[: d - 1, d - 1]
    # Post-processing: make the noisy Gram matrix positive definite (eigenvalues at least the
    # noise scale) before solving, the usual repair for sufficient-statistics perturbation.
    vals, vecs = np.linalg.eigh(xtx)
    xtx = (vecs * np.maximum(vals, scale * 2)) @ vecs.T
    w = np.linalg.solve(xtx, xty)
    # Back to original units: y = a + Σ b_j x_j.
    ys_span, xs_span = (yhi - ylo) / 2, (hi - lo) / 2
    b = w[:-1] * ys_span / xs_span
    a = (w[-1] * ys_span + (yhi + ylo) / 2) - float(np.sum(b * (hi + lo) / 2))
    return b.tolist(), float(a), eps


def train(spec: TrainSpec, ds: Dataset, engine: WorkerEngine, min_group: int = 10) -> TrainResult:
    """Check the spec, fit inside the sandbox worker, return the checked model."""
    check_spec(spec, ds, min_group)
    out = engine.call(
        train_in_worker,
        {
            "path": str(ds.path),
            "spec": {
                "template": spec.template,
                "features": spec.features,
                "target": spec.target,
                "params": spec.params,
                "epsilon": spec.epsilon,
            },
            "id_columns": ds.identifiers,
            "min_group": min_group,
            "bounds": {c.name: list(c.bounds) for c in ds.columns if c.bounds},
            "contributions": ds.max_contributions,
        },
    )
    return TrainResult(**out)


def load_path(p: str | Path) -> Path:
    return Path(p)
