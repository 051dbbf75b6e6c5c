"""Tenant scoping is structural: queries are filtered, unscoped ones raise, foreign writes fail."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mingyue.core.db import Scope, session_factory
from mingyue.core.errors import Forbidden, UnscopedQuery
from mingyue.core.tenancy.identity import ApiToken, User


def test_query_without_scope_raises(settings, tenants) -> None:
    s = session_factory(settings)()
    try:
        with pytest.raises(UnscopedQuery):
            s.scalars(select(User)).all()
    finally:
        s.close()


def test_scope_filters_rows(settings, tenants) -> None:
    s = session_factory(settings)()
    s.info["scope"] = Scope.of(tenants.a.org.id)
    try:
        names = {u.username for u in s.scalars(select(User))}
        assert names == {tenants.a.admin.username, tenants.a.member.username}
        # a join through another tenant table is filtered too
        toks = s.scalars(select(ApiToken).join(User)).all()
        assert {t.organization_id for t in toks} == {tenants.a.org.id}
        # get() of a foreign row through a query is filtered
        assert s.scalars(select(User).where(User.id == tenants.b.member.id)).first() is None
    finally:
        s.close()


def test_write_outside_scope_is_refused(settings, tenants) -> None:
    s = session_factory(settings)()
    s.info["scope"] = Scope.of(tenants.a.org.id)
    try:
        s.add(
            User(
                username="intruder",
                password_hash="x",
                organization_id=tenants.b.org.id,
                roles=["member"],
            )
        )
        with pytest.raises(Forbidden):
            s.flush()
    finally:
        s.rollback()
        s.close()


def test_unscoped_is_audited(settings, tenants, actor_of, uow_as) -> None:
    from mingyue.core.ledger.audit import AuditEntry

    actor = actor_of(tenants.a.member)
    with uow_as(actor) as uow:
        with uow.unscoped(reason="test catalogue"):
            assert len(uow.session.scalars(select(User)).all()) == 8
        assert len(uow.session.scalars(select(User)).all()) == 2
    s = session_factory(settings)()
    s.info["scope"] = Scope.everything("test")
    last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last is not None and last.action == "core.scope.unscoped"
    assert last.payload == {"reason": "test catalogue"}
    s.close()


def test_counts_over_select_from_are_scoped(settings, tenants) -> None:
    # ``select(func.count()).select_from(User)`` names User only in its FROM clause: it ran
    # across every tenant, and without a scope it ran at all (the overview counted every user).
    from sqlalchemy import func

    from mingyue.core.cases import Case

    s = session_factory(settings)()
    try:
        with pytest.raises(UnscopedQuery):
            s.scalar(select(func.count()).select_from(User))
        s.info["scope"] = Scope.of(tenants.a.org.id)
        assert s.scalar(select(func.count()).select_from(User)) == 2
        joined = select(func.count()).select_from(User).join(ApiToken, ApiToken.user_id == User.id)
        assert s.scalar(joined) == s.scalar(
            select(func.count(ApiToken.id)).where(ApiToken.organization_id == tenants.a.org.id)
        )
        # a bare Table takes no criteria: refused instead of counted across tenants
        with pytest.raises(UnscopedQuery, match="bare Table"):
            s.scalar(select(func.count()).select_from(Case.__table__))
        s.info["scope"] = Scope.everything("test")
        assert s.scalar(select(func.count()).select_from(User)) > 2
        assert s.scalar(select(func.count()).select_from(Case.__table__)) >= 0
    finally:
        s.close()
