"""Differential privacy on the aggregate vector, with OpenDP measurements.

DuckDB computes the clamped, contribution-bounded aggregates exactly; this module adds the noise.
Sensitivities follow from the public bounds: a privacy unit contributes at most ``k`` rows (bounded
at ingestion, multiplied across joins), so a count moves by at most ``k`` and a clamped sum by at
most ``k * max(|lower|, |upper|)`` (add/remove-one-unit neighbours). As in OpenDP's Context API,
ε is split evenly over the ``m`` noisy quantities of one query (AVG is a noisy sum and a noisy
count), so quantity ``i`` gets Laplace noise of scale ``sens_i * m / ε``. Group keys that are not
public are released with OpenDP's ``make_laplace_threshold`` at the smallest threshold whose δ is
below the policy's δ. Integer quantities use OpenDP's discrete Laplace, decimal sums its float
Laplace.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import InvalidSpec
from .sqlcheck import Plan


def _dp() -> Any:
    import opendp.prelude as dp  # lazy: datasandbox extra, heavy

    dp.enable_features("contrib")
    return dp


@dataclass(frozen=True)
class Quantity:
    """One noisy number per group: an output's count or sum (AVG has two)."""

    output: int  # index into plan.outputs; -1 for the hidden group-size count
    column: str  # result column it reads (a0, c0, __n)
    role: str  # "count" | "sum"
    sensitivity: float
    integer: bool
    scale: float


@dataclass(frozen=True)
class NoisePlan:
    """Noise scales and the key-release threshold of one DP query — computed before any data."""

    epsilon: float
    delta: float
    contributions: int
    quantities: tuple[Quantity, ...]
    threshold: int | None  # noisy-count threshold for releasing a group; None when ungrouped
    threshold_column: str | None

    def preview(self, plan: Plan, alpha: float = 0.05) -> list[dict[str, Any]]:
        """Accuracy at level 1-alpha for each released output, without touching data."""
        dp = _dp()
        out = []
        for q in self.quantities:
            acc = (
                dp.discrete_laplacian_scale_to_accuracy(q.scale, alpha)
                if q.integer
                else dp.laplacian_scale_to_accuracy(q.scale, alpha)
            )
            name = plan.outputs[q.output].name if q.output >= 0 else "__group_size"
            out.append(
                {
                    "output": name,
                    "role": q.role,
                    "scale": q.scale,
                    "accuracy": float(acc),
                    "alpha": alpha,
                    "distribution": "Integer Laplace" if q.integer else "Float Laplace",
                }
            )
        return out


def noise_plan(plan: Plan, epsilon: float, delta: float = 1e-7) -> NoisePlan:
    """Derive the sensitivity and noise scale of every quantity of a DP plan."""
    if not plan.dp:
        raise InvalidSpec("dp.not_dp_plan", "the plan was not checked for DP")
    if not (epsilon > 0 and epsilon < 100):
        raise InvalidSpec("dp.epsilon", "epsilon must be in (0, 100)", epsilon=epsilon)
    k = plan.contributions
    raw: list[tuple[int, str, str, float, bool]] = []
    for i, o in enumerate(plan.outputs):
        if o.kind == "count":
            raw.append((i, f"a{i}", "count", float(k), True))
        elif o.kind in ("sum", "avg"):
            if o.bounds is None:  # pragma: no cover - the planner gives sums and means bounds
                raise InvalidSpec("dp.no_bounds", f"{o.name} has no clamping bounds")
            m = max(abs(o.bounds[0]), abs(o.bounds[1]))
            raw.append((i, f"a{i}", "sum", float(k) * m, o.integer))
            if o.kind == "avg":
                raw.append((i, f"c{i}", "count", float(k), True))
    threshold_col = None
    if plan.grouped:
        if plan.hidden_count:
            raw.append((-1, "__n", "count", float(k), True))
            threshold_col = "__n"
        else:
            idx = next(
                i
                for i, o in enumerate(plan.outputs)
                if o.kind == "count" and o.sql.upper() == "COUNT(*)"
            )
            threshold_col = f"a{idx}"
    m_q = len(raw)
    quantities = tuple(
        Quantity(i, col, role, sens, integer, sens * m_q / epsilon)
        for i, col, role, sens, integer in raw
    )
    threshold = None
    if plan.grouped:
        tq = next(q for q in quantities if q.column == threshold_col)
        threshold = _smallest_threshold_cached(tq.scale, k, delta)
    return NoisePlan(epsilon, delta, k, quantities, threshold, threshold_col)


@functools.lru_cache(maxsize=1024)
def _smallest_threshold_cached(scale: float, k: int, delta: float) -> int:
    return _smallest_threshold(_dp(), scale, k, delta)


def _smallest_threshold(dp: Any, scale: float, k: int, delta: float) -> int:
    """Binary-search the smallest key-release threshold whose δ (OpenDP's map) is within delta."""
    dom = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64"))
    met = dp.l01inf_distance(dp.absolute_distance(T="i64"))

    def ok(t: int) -> bool:
        meas = dp.m.make_laplace_threshold(dom, met, scale=scale, threshold=t)
        return float(meas.map((k, k, k))[1]) <= delta

    lo, hi = k, max(k, 1) * 2
    while not ok(hi):
        lo, hi = hi, hi * 2
        if hi > 2**40:
            raise InvalidSpec("dp.threshold", "no key-release threshold reaches this delta")
    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _num(v: Any, integer: bool) -> Any:
    if v is None:
        return 0 if integer else 0.0
    if integer:
        return int(v)
    return float(v)


def apply(
    plan: Plan, noise: NoisePlan, columns: list[str], rows: list[tuple[Any, ...]], min_group: int
) -> tuple[list[dict[str, Any]], float]:
    """Add the planned noise to the aggregate rows; return released rows and ε actually used."""
    dp = _dp()
    idx = {c: i for i, c in enumerate(columns)}
    n_keys = plan.n_keys
    key_cols = [idx[f"k{i}"] for i, o in enumerate(plan.outputs) if o.kind == "key"]
    spent = 0.0
    noisy: dict[str, list[Any]] = {}
    if plan.grouped:
        keys = [json.dumps([_jsonable(r[j]) for j in key_cols], ensure_ascii=False) for r in rows]
        tq = next(q for q in noise.quantities if q.column == noise.threshold_column)
        dom = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T="i64"))
        met = dp.l01inf_distance(dp.absolute_distance(T="i64"))
        thr = dp.m.make_laplace_threshold(dom, met, scale=tq.scale, threshold=noise.threshold)
        k = noise.contributions
        spent += float(thr.map((k, k, k))[0])
        released = thr(
            {key: int(r[idx[tq.column]] or 0) for key, r in zip(keys, rows, strict=True)}
        )
        noisy[tq.column] = [released.get(key) for key in keys]
    else:
        keys = [""] * len(rows)
    for q in noise.quantities:
        if q.column == noise.threshold_column:
            continue
        values = [_num(r[idx[q.column]], q.integer) for r in rows]
        if q.integer:
            meas = dp.m.make_laplace(
                dp.vector_domain(dp.atom_domain(T="i64")), dp.l1_distance(T="i64"), scale=q.scale
            )
            spent += float(meas.map(int(q.sensitivity)))
        else:
            meas = dp.m.make_laplace(
                dp.vector_domain(dp.atom_domain(T=float, nan=False)),
                dp.l1_distance(T=float),
                scale=q.scale,
            )
            spent += float(meas.map(q.sensitivity))
        noisy[q.column] = list(meas(values)) if values else []
    if spent > noise.epsilon * (1 + 1e-6):
        raise AssertionError(f"privacy accounting: spent {spent} > planned {noise.epsilon}")
    out: list[dict[str, Any]] = []
    for r_i, r in enumerate(rows):
        if plan.grouped:
            gsize = noisy[noise.threshold_column][r_i]  # type: ignore[index]
            if gsize is None or gsize < min_group:
                continue
        row: dict[str, Any] = {}
        for i, o in enumerate(plan.outputs):
            if o.kind == "key":
                row[o.name] = _jsonable(r[idx[f"k{i}"]])
            elif o.kind == "count":
                row[o.name] = max(int(noisy[f"a{i}"][r_i]), 0)
            elif o.kind == "sum":
                row[o.name] = noisy[f"a{i}"][r_i]
            else:  # avg: post-processing of a noisy sum and a noisy count
                lo, hi = o.bounds  # type: ignore[misc]
                s, c = noisy[f"a{i}"][r_i], noisy[f"c{i}"][r_i]
                row[o.name] = min(max(float(s) / max(float(c), 1.0), lo), hi)
        out.append(row)
    del n_keys
    return out, spent


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v
