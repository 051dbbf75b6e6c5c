"""PSI is no exact-count oracle (issue 12, item 3): padded answers, key columns, rate, budget."""

from __future__ import annotations

import base64
import csv
from typing import Any

import pytest

from mingyue.core.errors import RecordedRefusal
from mingyue.enablers.datasandbox import service
from mingyue.enablers.datasandbox.engine.verify import PsiClient, psi_bucket

MIN_GROUP = 10


def _patients(demo_files: Any) -> list[dict[str, str]]:
    with open(demo_files.patients, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _register(
    uow_as: Any,
    owner: Any,
    demo_files: Any,
    *,
    verify_keys: list[str] | None,
    eps: float | None = None,
) -> None:
    with uow_as(owner) as uow:
        service.register_dataset(
            uow=uow,
            actor=owner,
            source=demo_files.patients,
            name="patients",
            identifiers=["person_hash", "employer_uscc"],
            quasi=["age", "sex"],
            sensitive=["progression"],
            min_group=MIN_GROUP,
            epsilon_per_period=eps,
            open_to_all=True,
            verify_keys=verify_keys,
        )


def _psi(uow_as: Any, actor: Any, predicate: str, client: PsiClient, reveal: bool = False) -> Any:
    with uow_as(actor) as uow:
        return service.psi(
            uow=uow,
            actor=actor,
            dataset="patients",
            predicate=predicate,
            request=client.request,
            reveal_intersection=reveal,
        )


def _setup_shape(setup: bytes) -> tuple[int, int, int]:
    import private_set_intersection.python as psi

    msg = psi.ServerSetup()
    msg.ParseFromString(setup)
    # A Bloom filter: its length and hash count depend on the bucket only (GCS sent hash_range,
    # which is the exact server-set size times the client's).
    assert msg.WhichOneof("data_structure") == "bloom_filter"
    return len(setup), len(msg.bloom_filter.bits), msg.bloom_filter.num_hash_functions


@pytest.mark.usefixtures("midday")
def test_binary_search_on_a_sensitive_value_learns_nothing(
    tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any
) -> None:
    owner, bank = actor_of(tenants.a.admin), actor_of(tenants.b.member)
    rows = _patients(demo_files)
    target = rows[0]
    age, sex, value = target["age"], target["sex"], float(target["progression"])
    other_sex = next(r["sex"] for r in rows if r["sex"] != sex)
    # Worst case: the owner marks the quasi-identifiers and the sensitive column as keys.
    _register(uow_as, owner, demo_files, verify_keys=["age", "sex", "progression"])
    mine = rows[1:13]
    client = PsiClient([r["person_hash"] for r in mine])  # 12 ids: the 9th passes 100 a day
    lo, hi = 0.0, 400.0
    shapes: dict[int, set[tuple[int, int, int]]] = {}
    counts_seen: set[int] = set()
    answered = refused = 0
    for step in range(9):
        t = (lo + hi) / 2
        # The differencing trick that made the setup size an oracle: a big, known group plus
        # the target's own group cut at t.
        pred = f"sex = {other_sex} OR (age = {age} AND sex = {sex} AND progression <= {t})"

        def match(r: dict[str, str], t: float = t) -> bool:
            return r["sex"] == other_sex or (
                r["age"] == age and r["sex"] == sex and float(r["progression"]) <= t
            )

        real = sum(1 for r in rows if match(r))
        counts_seen.add(real)
        try:
            out = _psi(uow_as, bank, pred, client)
        except RecordedRefusal as exc:
            if exc.key == "datasandbox.verify.rate_limited":
                assert step == 8 and exc.status == 429  # 8 x 12 ids used: stopped
                break
            assert exc.key == "datasandbox.gate.small_group" and exc.status == 422
            assert exc.document["status"] == "refused"
            refused += 1
        else:
            answered += 1
            shape = _setup_shape(base64.b64decode(out.setup_b64))
            shapes.setdefault(psi_bucket(real, MIN_GROUP), set()).add(shape)
            # The consumer's own answer (the size of its intersection) is all it gets.
            assert client.size(
                base64.b64decode(out.setup_b64), base64.b64decode(out.response_b64)
            ) == sum(1 for r in mine if match(r))
        if value <= t:
            hi = t
        else:
            lo = t
    assert answered >= 2 and refused == 0
    assert len(counts_seen) >= 2  # the exact counts differed: the old reply leaked them
    assert step == 8  # the loop was stopped by the rate limit
    for bucket, seen in shapes.items():
        assert len(seen) == 1, (bucket, seen)  # identical within a bucket
    with pytest.raises(RecordedRefusal) as err:
        _psi(uow_as, bank, "sex = 1", client)
    assert err.value.key == "datasandbox.verify.rate_limited"


def test_small_groups_refused_and_default_keys_exclude_quasi_and_sensitive(
    tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any
) -> None:
    owner, bank = actor_of(tenants.a.admin), actor_of(tenants.b.member)
    rows = _patients(demo_files)
    _register(uow_as, owner, demo_files, verify_keys=None)  # default: the ordinary columns
    client = PsiClient([r["person_hash"] for r in rows[:3]])
    for pred, column in (
        ("progression <= 150", "progression"),
        ("age = 59 AND bmi > 20", "age"),
        ("bmi > 20 AND sex = 2", "sex"),
    ):
        with pytest.raises(RecordedRefusal) as err:
            _psi(uow_as, bank, pred, client)
        assert err.value.status == 422, pred
        assert err.value.key == "datasandbox.verify.predicate_column"
        assert column in err.value.message and err.value.document["status"] == "refused"
    out = _psi(uow_as, bank, "bmi > 0", client)  # ordinary column, everyone
    assert client.size(base64.b64decode(out.setup_b64), base64.b64decode(out.response_b64)) == 3
    one = rows[0]
    with pytest.raises(RecordedRefusal) as err:  # one record's bmi: below the minimum group
        _psi(uow_as, bank, f"bmi = {one['bmi']} AND s1 = {one['s1']}", client)
    assert err.value.key == "datasandbox.gate.small_group" and err.value.status == 422
    assert "1 " not in err.value.message  # the refusal names the threshold, not the count


def test_psi_is_charged_to_the_budget(
    tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any
) -> None:
    owner, bank = actor_of(tenants.a.admin), actor_of(tenants.b.member)
    rows = _patients(demo_files)
    _register(uow_as, owner, demo_files, verify_keys=None, eps=1.0)  # default ε 0.5 per PSI
    client = PsiClient([r["person_hash"] for r in rows[:2]])
    for _ in range(2):
        _psi(uow_as, bank, "bmi > 0", client)
    with uow_as(bank) as uow:
        left = {b.dataset: b.left for b in service.budgets(uow=uow, actor=bank)}
    assert left["patients"] == pytest.approx(0.0)
    with pytest.raises(RecordedRefusal) as err:
        _psi(uow_as, bank, "bmi > 0", client)
    assert err.value.status == 429 and err.value.key == "datasandbox.budget.exhausted"


def test_reveal_mismatch_is_422_not_500(
    client: Any, tenants: Any, actor_of: Any, uow_as: Any, demo_files: Any
) -> None:
    owner = actor_of(tenants.a.admin)
    rows = _patients(demo_files)
    _register(uow_as, owner, demo_files, verify_keys=None)
    ids = [r["person_hash"] for r in rows[:4]]
    for client_reveal, body_reveal, who in (
        (True, False, tenants.b.headers()),  # a reveal request sent as a size request
        (False, True, tenants.a.headers(admin=True)),  # the owner asks to reveal, wrong client
    ):
        pc = PsiClient(ids, reveal_intersection=client_reveal)
        r = client.post(
            "/api/datasandbox/psi",
            headers=who,
            json={
                "dataset": "patients",
                "predicate": "bmi > 0",
                "request_b64": base64.b64encode(pc.request).decode(),
                "reveal_intersection": body_reveal,
            },
        )
        assert r.status_code == 422, r.text
        assert r.json()["rule"] == "verify.psi_mode" and r.json()["status"] == "refused"
    pc = PsiClient(ids, reveal_intersection=True)  # the owner, on its own data, consistently
    r = client.post(
        "/api/datasandbox/psi",
        headers=tenants.a.headers(admin=True),
        json={
            "dataset": "patients",
            "predicate": "bmi > 0",
            "request_b64": base64.b64encode(pc.request).decode(),
            "reveal_intersection": True,
        },
    )
    assert r.status_code == 200, r.text
    got = pc.intersection(
        base64.b64decode(r.json()["setup_b64"]), base64.b64decode(r.json()["response_b64"])
    )
    assert got == sorted(ids)


def test_the_daily_limit_counts_the_platform_zones_day(settings: Any) -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from mingyue.enablers.datasandbox import verification

    uow: Any = SimpleNamespace(settings=settings)
    assert settings.timezone == "Asia/Shanghai"
    # 15:59 and 16:01 UTC are two days in Chongqing (UTC+8), one day in UTC
    assert verification._day(uow, datetime(2026, 12, 7, 15, 59, tzinfo=UTC)) == "2026-12-07"
    assert verification._day(uow, datetime(2026, 12, 7, 16, 1, tzinfo=UTC)) == "2026-12-08"
