"""Wash-trade and manipulation detectors over a sale table, vectorised with numpy.

Each detector reads only trading facts (who sold which token to whom, when, at what price, and who
first funded each party); label columns of an input are dropped before this module sees it.
Patterns (the names the CLI prints):

- ``self_trade``: seller and buyer are one address.
- ``back_and_forth``: a token returns to its seller on the next sale (A→B→A) within the window.
- ``cycle``: a token returns to an earlier owner after 3 or 4 sales among distinct parties.
- ``common_funder``: seller and buyer were first funded by one address that is not a hub
  (exchange, platform wallet, bridge, mixer, or a funder of many addresses), or one party funded
  the other.
- ``repeat_buy``: one address buys the same token again within the window.
- ``price_jump``: a token resells at many times its last price within a day, far above its
  collection's median.
- ``rapid_flip``: an address resells several tokens within minutes of buying each.
- ``concentration``: one non-hub address ends up holding a large share of a collection.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mingyue.enablers.digitalasset.engine.labels import HUB_MIN_CONFIDENCE, AddressLabel, LabelStore
from mingyue.enablers.digitalasset.engine.monitor.alerts import (
    MAX_GRAPH_EDGES,
    Alert,
    AlertBuilder,
)

DAY = 86_400.0
IntArr = npt.NDArray[np.int64]
FloatArr = npt.NDArray[np.float64]
BoolArr = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """Thresholds of the detectors (defaults follow public wash-trade studies: 7-day windows)."""

    # A loop (back-and-forth, cycle, repeat buy) closed within a day alerts on its own; one
    # closed within a week needs a funder link between its parties as well.
    loop_window_s: float = DAY
    loop_min_isolation: float = 0.5
    window_s: float = 7 * DAY
    cycle_max_len: int = 4
    hub_min_degree: int = 20
    hub_min_confidence: float = HUB_MIN_CONFIDENCE
    jump_ratio: float = 10.0
    jump_window_s: float = DAY
    jump_min_z: float = 4.0
    jump_min_sales: int = 20
    flip_window_s: float = 3_600.0
    flip_min_count: int = 5
    flip_span_s: float = DAY
    concentration_min_tokens: int = 10
    concentration_min_share: float = 0.2
    enabled: tuple[str, ...] = (
        "self_trade",
        "back_and_forth",
        "cycle",
        "common_funder",
        "repeat_buy",
        "price_jump",
        "rapid_flip",
        "concentration",
    )


@dataclass(slots=True)
class MonitorResult:
    """Alerts plus what the run learned: inferred hub labels and counts."""

    alerts: list[Alert]
    inferred_hubs: list[AddressLabel] = field(default_factory=list)
    events: int = 0
    suppressed: int = 0


class _Table:
    """The sale table sorted by token then time, with addresses as integer codes."""

    def __init__(self, df: pl.DataFrame) -> None:
        df = df.with_columns(
            pl.concat_str(["collection", "token_id"], separator=":").alias("token")
        ).sort(["token", "ts", "row"])
        names = pl.concat(
            [df["seller"], df["buyer"], df["seller_first_funder"], df["buyer_first_funder"]]
        )
        uniq = names.unique(maintain_order=True)
        codes_all = names.cast(pl.Enum(uniq)).to_physical().cast(pl.Int64).to_numpy()
        self.names: list[str] = uniq.to_list()
        n = df.height
        self.n = n
        self.seller: IntArr = codes_all[:n]
        self.buyer: IntArr = codes_all[n : 2 * n]
        sf = codes_all[2 * n : 3 * n].copy()
        bf = codes_all[3 * n :].copy()
        empty = self.names.index("") if "" in self.names else -2
        sf[sf == empty] = -1
        bf[bf == empty] = -1
        self.sf: IntArr = sf
        self.bf: IntArr = bf
        self.ts: FloatArr = df["ts"].to_numpy().astype(np.float64)
        self.row: IntArr = df["row"].to_numpy().astype(np.int64)
        self.price: FloatArr = df["price_cny"].fill_null(np.nan).to_numpy().astype(np.float64)
        self.token_names: list[str] = df["token"].to_list()
        tok_codes = df["token"].rank("dense").to_numpy().astype(np.int64)
        self.tok: IntArr = tok_codes
        self.collection: list[str] = df["collection"].to_list()
        self._by_address: dict[int, IntArr] | None = None

    def rows_of(self, who: int) -> IntArr:
        """Positions of every sale in which ``who`` sold or bought (built on first use)."""
        if self._by_address is None:
            both = np.concatenate([self.seller, self.buyer])
            order = np.argsort(both, kind="stable")
            pos = order % self.n
            keys, starts = np.unique(both[order], return_index=True)
            ends = [*starts[1:].tolist(), len(order)]
            self._by_address = {
                int(k): pos[a:e]
                for k, a, e in zip(keys.tolist(), starts.tolist(), ends, strict=True)
            }
        return self._by_address.get(who, np.empty(0, dtype=np.int64))

    def same_token(self, lag: int) -> BoolArr:
        """Mask over positions i >= lag: sale i and sale i-lag are of one token."""
        out = np.zeros(self.n, dtype=bool) if lag else np.ones(self.n, dtype=bool)
        if 0 < lag < self.n:
            out[lag:] = self.tok[lag:] == self.tok[:-lag]
        return out

    def lagged(self, arr: npt.NDArray[Any], lag: int, fill: Any = -1) -> npt.NDArray[Any]:
        """``arr`` shifted down by ``lag`` (position i holds arr[i-lag])."""
        if lag == 0:
            return arr.copy()
        out = np.full(self.n, fill, dtype=arr.dtype)
        if lag < self.n:
            out[lag:] = arr[:-lag]
        return out


def _funder_degree(t: _Table) -> dict[str, int]:
    width = len(t.names) + 1
    keys = np.concatenate([t.sf * width + t.seller, t.bf * width + t.buyer])
    keys = np.unique(keys[keys >= 0])
    if not len(keys):
        return {}
    funders, counts = np.unique(keys // width, return_counts=True)
    return {t.names[int(f)]: int(c) for f, c in zip(funders, counts, strict=True)}


def detect(
    df: pl.DataFrame,
    *,
    labels: LabelStore | None = None,
    config: MonitorConfig | None = None,
    suppressed: set[tuple[str, frozenset[str]]] | None = None,
) -> MonitorResult:
    """Run every enabled detector over the sale table and return de-duplicated, ranked alerts."""
    cfg = config or MonitorConfig()
    store = labels if labels is not None else LabelStore()
    if df.height == 0:
        return MonitorResult(alerts=[], events=0)
    t = _Table(df)
    inferred = store.infer_hubs(_funder_degree(t), cfg.hub_min_degree)
    hub_names = store.hubs(cfg.hub_min_confidence)
    is_hub = np.array([name in hub_names for name in t.names] + [False], dtype=bool)
    b = AlertBuilder()
    on = set(cfg.enabled)
    if "self_trade" in on:
        _self_trade(t, b)
    if on & {"back_and_forth", "cycle"}:
        _returns(t, b, cfg, on, is_hub)
    if "repeat_buy" in on:
        _repeat_buy(t, b, cfg, is_hub)
    if "common_funder" in on:
        _common_funder(t, b, is_hub)
    if "price_jump" in on:
        _price_jump(t, b, cfg)
    if "rapid_flip" in on:
        _rapid_flip(t, b, cfg, is_hub)
    if "concentration" in on:
        _concentration(t, b, cfg, is_hub)
    mute = suppressed or set()
    alerts = b.finish(mute)
    total = len(b._alerts)
    _attach_graphs(t, alerts, store, cfg)
    return MonitorResult(
        alerts=alerts, inferred_hubs=inferred, events=t.n, suppressed=total - len(alerts)
    )


def _parties(t: _Table, idx: list[int]) -> list[str]:
    return [t.names[int(c)] for i in idx for c in (t.seller[i], t.buyer[i])]


def _self_trade(t: _Table, b: AlertBuilder) -> None:
    for i in np.flatnonzero(t.seller == t.buyer):
        who = t.names[int(t.seller[i])]
        b.add("self_trade", (who,), [int(t.row[i])], [who], [t.token_names[i]])


def _corroborated(t: _Table, idx: list[int], is_hub: BoolArr) -> bool:
    """Two parties share a non-hub first funder, or one party first funded another."""
    funder_of: dict[int, int] = {}
    for i in idx:
        for who, f in ((int(t.seller[i]), int(t.sf[i])), (int(t.buyer[i]), int(t.bf[i]))):
            if f >= 0:
                funder_of[who] = f
    parties = set(funder_of) | {int(t.seller[i]) for i in idx} | {int(t.buyer[i]) for i in idx}
    seen: set[int] = set()
    for who, f in funder_of.items():
        if f in parties and f != who:
            return True
        if not is_hub[f]:
            if f in seen:
                return True
            seen.add(f)
    return False


def _isolation(t: _Table, idx: list[int]) -> float:
    """Smallest share, over the parties, of their trades (anywhere) whose counterparty is a party.

    Wash rings trade mostly among themselves; active collectors whose paths happen to close a
    loop trade mostly with others.
    """
    group = {int(t.seller[i]) for i in idx} | {int(t.buyer[i]) for i in idx}
    worst = 1.0
    for who in group:
        rows = t.rows_of(who)
        if not len(rows):
            continue
        cp = np.where(t.seller[rows] == who, t.buyer[rows], t.seller[rows])
        inside = np.isin(cp, list(group)).sum()
        worst = min(worst, float(inside) / len(rows))
    return worst


def _in_window(
    t: _Table, span: FloatArr, cfg: MonitorConfig, is_hub: BoolArr, idx: list[int]
) -> str | None:
    """Why a loop alerts: 'funder' (a funder links its parties, within the long window), or
    'isolated' (closed within the loop window by parties that trade mostly among themselves)."""
    s = float(span[idx[-1]])
    if s > cfg.window_s:
        return None
    if _corroborated(t, idx, is_hub):
        return "funder"
    if s <= cfg.loop_window_s and _isolation(t, idx) >= cfg.loop_min_isolation:
        return "isolated"
    return None


def _returns(t: _Table, b: AlertBuilder, cfg: MonitorConfig, on: set[str], is_hub: BoolArr) -> None:
    """L consecutive sales of a token whose transfers close one loop: L=2 back-and-forth, 3-4 cycle.

    The loop is read as a graph (sellers are a permutation of buyers, one cycle), not in time
    order: exports often carry equal or coarse timestamps, and the legs may arrive out of order.
    """
    not_self = t.seller != t.buyer
    for length in range(2, cfg.cycle_max_len + 1):
        pattern = "back_and_forth" if length == 2 else "cycle"
        if pattern not in on:
            continue
        lag = length - 1
        span = t.ts - t.lagged(t.ts, lag, -np.inf)
        hit = t.same_token(lag) & (span <= cfg.window_s)
        for k in range(length):  # no self-trade inside the loop: it is its own pattern
            hit &= t.lagged(not_self, k, False)
        sellers = np.stack([t.lagged(t.seller, k, -10 - k) for k in range(length)])
        buyers = np.stack([t.lagged(t.buyer, k, -20 - k) for k in range(length)])
        ss, bs = np.sort(sellers, axis=0), np.sort(buyers, axis=0)
        hit &= (ss == bs).all(axis=0) & (np.diff(ss, axis=0) != 0).all(axis=0)
        if length == 4:  # a derangement of four is one 4-cycle or two back-and-forths
            for x in range(4):
                for y in range(x + 1, 4):
                    hit &= ~((sellers[x] == buyers[y]) & (sellers[y] == buyers[x]))
        for i in np.flatnonzero(hit):
            idx = list(range(int(i) - lag, int(i) + 1))
            tier = _in_window(t, span, cfg, is_hub, idx)
            if tier is None:
                continue
            parties = sorted(set(_parties(t, idx)))
            b.add(
                pattern,
                (t.token_names[i], *parties),
                [int(t.row[j]) for j in idx],
                parties,
                [t.token_names[i]],
                {"length": length, "span_s": float(span[i]), "window": tier},
            )


def _repeat_buy(t: _Table, b: AlertBuilder, cfg: MonitorConfig, is_hub: BoolArr) -> None:
    """One address buys a token again within a few sales; its resale in between is covered too."""
    for lag in range(1, cfg.cycle_max_len):
        span = t.ts - t.lagged(t.ts, lag, -np.inf)
        hit = t.same_token(lag) & (t.buyer == t.lagged(t.buyer, lag, -3)) & (span <= cfg.window_s)
        hit &= t.seller != t.buyer
        for pos in np.flatnonzero(hit):
            i = int(pos)
            idx = list(range(i - lag, i + 1))
            tier = _in_window(t, span, cfg, is_hub, idx)
            if tier is None:
                continue
            buyer = int(t.buyer[i])
            limit = cfg.loop_window_s if tier == "isolated" else cfg.window_s
            j = i + 1  # legs logged out of order: the buyer's own resale right after
            while j < t.n and t.tok[j] == t.tok[i] and t.ts[j] - t.ts[i] <= limit:
                if int(t.seller[j]) == buyer:
                    idx.append(j)
                j += 1
            who = t.names[buyer]
            b.add(
                "repeat_buy",
                (t.token_names[i], who),
                [int(t.row[k]) for k in idx],
                sorted(set(_parties(t, idx))),
                [t.token_names[i]],
                {"buyer": who, "span_s": float(span[i]), "window": tier},
            )


def _common_funder(t: _Table, b: AlertBuilder, is_hub: BoolArr) -> None:
    """Same non-hub first funder, or one party first funded by the other."""
    shared = (t.sf >= 0) & (t.sf == t.bf) & ~is_hub[t.sf]
    direct = ((t.sf >= 0) & (t.sf == t.buyer)) | ((t.bf >= 0) & (t.bf == t.seller))
    hit = (shared | direct) & (t.seller != t.buyer)
    for i in np.flatnonzero(hit):
        s, u = t.names[int(t.seller[i])], t.names[int(t.buyer[i])]
        funder = t.names[int(t.sf[i])] if shared[i] else (s if t.bf[i] == t.seller[i] else u)
        pair = tuple(sorted((s, u)))
        b.add(
            "common_funder",
            pair,
            [int(t.row[i])],
            pair,
            [t.token_names[i]],
            {"funder": funder, "funded_by_counterparty": bool(direct[i] and not shared[i])},
        )


def _price_jump(t: _Table, b: AlertBuilder, cfg: MonitorConfig) -> None:
    """A resale within a day at ``jump_ratio`` times the last price that is also an outlier of
    its collection: robust z-score of log price (median, MAD) at least ``jump_min_z``."""
    prev = t.lagged(t.price, 1, np.nan)
    logp = pl.DataFrame({"c": t.collection, "lp": np.log(np.where(t.price > 0, t.price, np.nan))})
    stats = (
        logp.filter(pl.col("lp").is_not_nan())
        .group_by("c")
        .agg(
            pl.col("lp").median().alias("med"),
            (pl.col("lp") - pl.col("lp").median()).abs().median().alias("mad"),
            pl.len().alias("n"),
        )
    )
    med = dict(zip(stats["c"].to_list(), stats["med"].to_list(), strict=True))
    mad = dict(zip(stats["c"].to_list(), stats["mad"].to_list(), strict=True))
    count = dict(zip(stats["c"].to_list(), stats["n"].to_list(), strict=True))
    m = np.array([med.get(c, np.nan) for c in t.collection], dtype=np.float64)
    d = np.array([mad.get(c, np.nan) or np.nan for c in t.collection], dtype=np.float64)
    n = np.array([count.get(c, 0) for c in t.collection], dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (np.log(t.price) - m) / (1.4826 * d)
        hit = t.same_token(1) & (prev > 0) & (t.price >= cfg.jump_ratio * prev)
        hit &= (t.ts - t.lagged(t.ts, 1, -np.inf)) <= cfg.jump_window_s
        hit &= (z >= cfg.jump_min_z) & (n >= cfg.jump_min_sales)
    for i in np.flatnonzero(hit):
        idx = [int(i) - 1, int(i)]
        b.add(
            "price_jump",
            (t.token_names[i], str(int(t.row[i]))),
            [int(t.row[j]) for j in idx],
            sorted(set(_parties(t, idx))),
            [t.token_names[i]],
            {"ratio": round(float(t.price[i] / prev[i]), 2), "robust_z": round(float(z[i]), 2)},
        )


def _rapid_flip(t: _Table, b: AlertBuilder, cfg: MonitorConfig, is_hub: BoolArr) -> None:
    """Resales within ``flip_window_s`` of the purchase, at least ``flip_min_count`` in a day."""
    flip = t.same_token(1) & (t.seller == t.lagged(t.buyer, 1, -3))
    flip &= (t.ts - t.lagged(t.ts, 1, -np.inf)) <= cfg.flip_window_s
    flip &= (t.seller != t.buyer) & ~is_hub[t.seller]
    by_addr: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(flip):
        by_addr[int(t.seller[i])].append(int(i))
    for code, idxs in by_addr.items():
        if len(idxs) < cfg.flip_min_count:
            continue
        idxs.sort(key=lambda i: t.ts[i])
        times = np.array([t.ts[i] for i in idxs])
        keep: set[int] = set()
        span = cfg.flip_min_count - 1
        for k in range(len(idxs) - span):
            if times[k + span] - times[k] <= cfg.flip_span_s:
                keep.update(idxs[k : k + span + 1])
        if len({t.tok[i] for i in keep}) < cfg.flip_min_count:
            continue
        who = t.names[code]
        rows = sorted({int(t.row[j]) for i in keep for j in (i - 1, i)})
        b.add(
            "rapid_flip",
            (who,),
            rows,
            [who],
            sorted({t.token_names[i] for i in keep}),
            {"flips": len(keep), "flip_window_s": cfg.flip_window_s},
        )


def _concentration(t: _Table, b: AlertBuilder, cfg: MonitorConfig, is_hub: BoolArr) -> None:
    """A non-hub address holds (bought last) at least a share of a collection's traded tokens."""
    last = np.ones(t.n, dtype=bool)
    last[:-1] = t.tok[1:] != t.tok[:-1]
    idx = np.flatnonzero(last)
    holders = pl.DataFrame(
        {
            "pos": idx,
            "c": pl.Series([t.collection[i] for i in idx], dtype=pl.String),
            "h": t.buyer[idx],
        }
    )
    per_coll = holders.group_by("c").agg(pl.len().alias("total"))
    held = (
        holders.group_by("c", "h")
        .agg(pl.len().alias("held"), pl.col("pos"))
        .join(per_coll, on="c")
        .filter(
            (pl.col("held") >= cfg.concentration_min_tokens)
            & (pl.col("held") / pl.col("total") >= cfg.concentration_min_share)
        )
    )
    for c, holder, n_held, items, total in held.iter_rows():
        if is_hub[holder]:
            continue
        who = t.names[holder]
        b.add(
            "concentration",
            (c, who),
            sorted(int(t.row[i]) for i in items),
            [who],
            sorted(t.token_names[i] for i in items),
            {"collection": c, "share": round(n_held / total, 3), "held": n_held},
        )


def _attach_graphs(t: _Table, alerts: list[Alert], store: LabelStore, cfg: MonitorConfig) -> None:
    """Give each alert a small graph: sales (and first funders) among its parties."""
    pos = np.empty(t.n, dtype=np.int64)
    pos[t.row] = np.arange(t.n)
    for a in alerts:
        edges: list[dict[str, Any]] = []
        nodes: dict[str, dict[str, Any]] = {}
        for r in a.rows[:MAX_GRAPH_EDGES]:
            i = int(pos[r])
            s, u = t.names[int(t.seller[i])], t.names[int(t.buyer[i])]
            price = None if np.isnan(t.price[i]) else float(t.price[i])
            edges.append(
                {
                    "kind": "sale",
                    "from": s,
                    "to": u,
                    "row": r,
                    "token": t.token_names[i],
                    "ts": float(t.ts[i]),
                    "price_cny": price,
                }
            )
            for addr, f in ((s, t.sf[i]), (u, t.bf[i])):
                nodes.setdefault(addr, {"id": addr})
                if f >= 0 and len(edges) < 2 * MAX_GRAPH_EDGES:
                    fname = t.names[int(f)]
                    edge = {"kind": "funded", "from": fname, "to": addr}
                    if edge not in edges:
                        edges.append(edge)
                    nodes.setdefault(fname, {"id": fname})
        for addr, node in nodes.items():
            hub = store.hub_label(addr, cfg.hub_min_confidence)
            if hub is not None:
                node["label"] = {
                    "kind": hub.kind,
                    "source": hub.source,
                    "confidence": hub.confidence,
                }
        a.evidence["graph"] = {"nodes": list(nodes.values()), "edges": edges}
        a.evidence["rows_total"] = len(a.rows)
