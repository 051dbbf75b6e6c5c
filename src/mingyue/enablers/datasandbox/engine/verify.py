"""Verification (核验) products: yes/no per identifier or a match count; private set intersection.

The consumer sends identifiers and a predicate over non-identifier columns ("credit_rating = 'A'
AND year = 2025"); it learns only, per identifier, whether some record of it satisfies the
predicate — or only how many do. With PSI (OpenMined's ``openmined-psi``, ECDH-based), the
consumer does not even reveal its list: the sandbox answers an encrypted request against the set
of identifiers that satisfy the predicate, and the consumer computes the intersection (or only
its size) locally.
"""

# ruff: noqa: S608  (SQL is built from checked column names (COLUMN_RE) and a checked predicate)
from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import uscc
from .datasets import ColumnClass, Dataset
from .errors import InvalidSpec, Refusal
from .sqlcheck import check_predicate

if TYPE_CHECKING:
    from mingyue.enablers.datasandbox.adapters.base import SqlEngine

MAX_IDS = 10_000


class RateLimiter(Protocol):
    """Counts identifiers checked per consumer, dataset and day."""

    def take(self, consumer: str, dataset: str, day: str, n: int, cap: int) -> int:
        """Record ``n`` checks if the cap allows; return what is left or raise Refusal."""
        ...


class InMemoryRateLimiter:
    """A rate limiter held in memory (tests, library use)."""

    def __init__(self) -> None:
        self.used: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def take(self, consumer: str, dataset: str, day: str, n: int, cap: int) -> int:
        with self._lock:
            key = (consumer, dataset, day)
            used = self.used.get(key, 0)
            if used + n > cap:
                raise Refusal(
                    "verify.rate_limited",
                    f"{cap} checks per day on {dataset}; {cap - used} left, {n} asked",
                    left=cap - used,
                    asked=n,
                )
            self.used[key] = used + n
            return cap - used - n


@dataclass
class VerifyResult:
    """Answers only: per identifier yes/no, or a count."""

    mode: str  # "each" | "count"
    answers: dict[str, bool] | None
    count: int | None
    invalid: list[str]
    rows_scanned: int
    cpu_seconds: float


def _check_ids(ids: list[str], ds: Dataset) -> tuple[list[str], list[str]]:
    if not ids:
        raise InvalidSpec("verify.no_ids", "give at least one identifier")
    if len(ids) > MAX_IDS:
        raise Refusal(
            "verify.too_many_ids", f"at most {MAX_IDS} identifiers per request", limit=MAX_IDS
        )
    if ds.unit is None:
        raise Refusal("verify.no_identifier", f"{ds.name} has no identifier column")
    ids = [str(i).strip() for i in ids]
    # Where the key is a USCC, malformed codes are answered "invalid", never looked up.
    col = "uscc" in ds.unit.lower()
    invalid = [i for i in ids if col and not uscc.is_valid(i)]
    return [i for i in ids if i not in invalid], invalid


def verify(
    ds: Dataset,
    ids: list[str],
    predicate: str,
    engine: SqlEngine,
    *,
    mode: str = "each",
    min_count_group: int = 1,
) -> VerifyResult:
    """Answer yes/no per identifier (mode "each") or only the number of matches ("count")."""
    if mode not in ("each", "count"):
        raise InvalidSpec("verify.mode", "mode is 'each' or 'count'")
    pred = check_predicate(predicate, ds)
    valid, invalid = _check_ids(ids, ds)
    unit = ds.unit
    sql = (
        f'SELECT CAST("{unit}" AS VARCHAR) AS id, bool_or(coalesce(({pred}), false)) AS ok '
        f'FROM "{ds.name}" WHERE CAST("{unit}" AS VARCHAR) IN (SELECT unnest($ids)) GROUP BY 1'
    )
    res = engine.run(sql, {"ids": valid}, {ds.name: ds.path}, max_rows=len(valid) + 1)
    found = {r[0]: bool(r[1]) for r in res.rows}
    if mode == "count":
        count = sum(found.values())
        if 0 < count < min_count_group:
            count = 0
        return VerifyResult(mode, None, count, invalid, ds.rows, res.cpu_seconds)
    answers = {i: found.get(i, False) for i in valid}
    return VerifyResult(mode, answers, None, invalid, ds.rows, res.cpu_seconds)


# ---- private set intersection ------------------------------------------------------------


def _psi() -> Any:
    import private_set_intersection.python as psi  # lazy: datasandbox extra (openmined-psi), heavy

    return psi


@dataclass
class PsiServerReply:
    """Serialized PSI setup and response for the consumer's client.

    ``server_set_size`` is the padded size (the bucket), never the number of matching records.
    """

    setup: bytes
    response: bytes
    server_set_size: int
    rows_scanned: int
    cpu_seconds: float


def psi_bucket(matching: int, min_group: int) -> int:
    """Return the padded server-set size: the next power of two ≥ max(matching, min_group)."""
    target = max(matching, min_group, 1)
    return 1 << (target - 1).bit_length()


def verification_keys(ds: Dataset, keys: list[str] | None) -> list[str]:
    """Return the columns a PSI predicate may test: the owner's keys, else the ordinary ones."""
    if keys is not None:
        return list(keys)
    return [c.name for c in ds.columns if c.cls is ColumnClass.ORDINARY]


def _parse_request(request: bytes, reveal_intersection: bool) -> Any:
    psi = _psi()
    req = psi.Request()
    try:
        req.ParseFromString(request)
    except Exception as exc:
        raise InvalidSpec("verify.psi_request", "not a PSI request") from exc
    if len(req.encrypted_elements) > MAX_IDS:
        raise Refusal(
            "verify.too_many_ids", f"at most {MAX_IDS} identifiers per request", limit=MAX_IDS
        )
    if bool(req.reveal_intersection) != reveal_intersection:
        # openmined-psi raises a RuntimeError on a mismatch (it answered 500): say it instead.
        raise InvalidSpec(
            "verify.psi_mode",
            "the request was made for "
            + ("the intersection" if req.reveal_intersection else "its size only")
            + f"; set reveal_intersection={str(bool(req.reveal_intersection)).lower()}",
        )
    return req


def check_psi(
    ds: Dataset,
    predicate: str,
    request: bytes,
    *,
    reveal_intersection: bool = False,
    keys: list[str] | None = None,
) -> int:
    """Check a PSI request before any data is read; return how many identifiers it carries."""
    if ds.unit is None:
        raise Refusal("verify.no_identifier", f"{ds.name} has no identifier column")
    req = _parse_request(request, reveal_intersection)
    check_predicate(predicate, ds, allowed=verification_keys(ds, keys))
    return len(req.encrypted_elements)


def psi_reply(
    ds: Dataset,
    predicate: str,
    request: bytes,
    engine: SqlEngine,
    *,
    reveal_intersection: bool = False,
    fpr: float = 1e-9,
    min_group: int = 1,
    keys: list[str] | None = None,
) -> PsiServerReply:
    """Answer a PSI request against the identifiers whose records satisfy ``predicate``.

    The setup message must not count the matching records (issue 12: its size and GCS
    ``hash_range`` were an exact-count oracle). So: fewer than ``min_group`` matches are refused
    (``gate.small_group``); otherwise the set is padded with random dummies to ``psi_bucket`` and
    sent as a Bloom filter, whose length depends only on the bucket, the client's size and
    ``fpr``. Dummies are random 128-bit strings, encrypted under the server's key like the rest:
    the consumer cannot tell them apart, and no real identifier equals one.
    """
    psi = _psi()
    if ds.unit is None:
        raise Refusal("verify.no_identifier", f"{ds.name} has no identifier column")
    req = _parse_request(request, reveal_intersection)
    pred = check_predicate(predicate, ds, allowed=verification_keys(ds, keys))
    sql = (
        f'SELECT DISTINCT CAST("{ds.unit}" AS VARCHAR) FROM "{ds.name}" '
        f"WHERE coalesce(({pred}), false)"
    )
    res = engine.run(sql, [], {ds.name: ds.path}, max_rows=5_000_000)
    server_items = [r[0] for r in res.rows]
    if len(server_items) < min_group:
        raise Refusal(
            "gate.small_group",
            f"fewer records match than the minimum group of {min_group}",
            min_group=min_group,
        )
    bucket = psi_bucket(len(server_items), min_group)
    taken = set(server_items)
    while len(server_items) < bucket:
        dummy = secrets.token_hex(16)
        if dummy not in taken:
            taken.add(dummy)
            server_items.append(dummy)
    secrets.SystemRandom().shuffle(server_items)
    n_client = len(req.encrypted_elements)
    server = psi.server.CreateWithNewKey(reveal_intersection)
    try:
        setup = server.CreateSetupMessage(
            fpr, max(n_client, 1), server_items, psi.DataStructure.BLOOM_FILTER
        )
        response = server.ProcessRequest(req)
    except RuntimeError as exc:
        raise InvalidSpec("verify.psi_request", "not a valid PSI request") from exc
    return PsiServerReply(
        setup.SerializeToString(),
        response.SerializeToString(),
        bucket,
        ds.rows,
        res.cpu_seconds,
    )


class PsiClient:
    """The consumer's side: encrypt identifiers, then read the intersection or its size."""

    def __init__(self, ids: list[str], *, reveal_intersection: bool = False) -> None:
        psi = _psi()
        self.ids = [str(i) for i in ids]
        self.reveal = reveal_intersection
        self._client = psi.client.CreateWithNewKey(reveal_intersection)
        self.request: bytes = self._client.CreateRequest(self.ids).SerializeToString()

    def size(self, reply_setup: bytes, reply_response: bytes) -> int:
        psi = _psi()
        setup, resp = psi.ServerSetup(), psi.Response()
        setup.ParseFromString(reply_setup)
        resp.ParseFromString(reply_response)
        return int(self._client.GetIntersectionSize(setup, resp))

    def intersection(self, reply_setup: bytes, reply_response: bytes) -> list[str]:
        if not self.reveal:
            raise InvalidSpec("verify.psi_mode", "this client was created for sizes only")
        psi = _psi()
        setup, resp = psi.ServerSetup(), psi.Response()
        setup.ParseFromString(reply_setup)
        resp.ParseFromString(reply_response)
        return sorted(self.ids[i] for i in self._client.GetIntersection(setup, resp))
