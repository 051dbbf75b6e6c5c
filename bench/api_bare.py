"""The bare stack that bench/api_latency.py measures mingyue against: nothing of mingyue's.

FastAPI + SQLAlchemy (sync sessions, psycopg) + PostgreSQL, served by uvicorn: a bearer token
looked up by its SHA-256 in a token table on every request (as mingyue stores tokens), then

- ``GET /cases?limit=20``: the caller's organization's cases, newest first, as JSON through a
  pydantic model with the same fields as mingyue's ``CaseOut``;
- ``POST /cases/{id}/transitions``: the comparable write — lock the case row, answer a repeated
  ``Idempotency-Key`` as it stands, check the caller's role and the case's state, move the case
  and insert a history row, in one transaction.

No tenant-scoping session, access registry, audit ledger, middleware or logging: that is what
the ratio in bench/api_latency.py is about. Its own tables (``bare_*``) live in the bench
database next to mingyue's.

    BARE_DATABASE_URL=postgresql+psycopg://... python bench/api_bare.py serve --port 8001
    python bench/api_bare.py seed --url ... --cases 5000     # prints tokens and case ids (JSON)
    python bench/api_bare.py --check                          # in-process self-test on SQLite
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    create_engine,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

URL_ENV = "BARE_DATABASE_URL"


class Base(DeclarativeBase):
    """Declarative base of the bare app's tables."""

    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON()}  # noqa: RUF012


class Org(Base):
    """An organization."""

    __tablename__ = "bare_org"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class User(Base):
    """A user of one organization with a list of roles."""

    __tablename__ = "bare_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("bare_org.id"), index=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Token(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "bare_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("bare_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Case(Base):
    """A case with the same columns (and indexes) as mingyue's ``core_case``."""

    __tablename__ = "bare_case"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("bare_org.id"), index=True)
    kind: Mapped[str] = mapped_column(String(120), index=True)
    title: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(60), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    opened_by: Mapped[str] = mapped_column(String(120))
    assignee_org_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    assignee_department: Mapped[str | None] = mapped_column(String(120), nullable=True)
    assignee_user_id: Mapped[int | None] = mapped_column(nullable=True, index=True)
    created_at: Mapped[datetime]
    state_entered_at: Mapped[datetime]
    due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    sla_breaches: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CaseEvent(Base):
    """One line of a case's history."""

    __tablename__ = "bare_case_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("bare_case.id"), index=True)
    name: Mapped[str] = mapped_column(String(60))
    actor: Mapped[str] = mapped_column(String(120))
    from_state: Mapped[str] = mapped_column(String(60))
    to_state: Mapped[str] = mapped_column(String(60))
    at: Mapped[datetime]
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)


class CaseOut(BaseModel):
    """A case as the API answers it (the fields of mingyue's ``CaseOut``)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    organization_id: int
    kind: str
    title: str
    subject: str | None
    state: str
    data: dict[str, Any]
    opened_by: str
    assignee_org_id: int | None
    assignee_department: str | None
    assignee_user_id: int | None
    created_at: datetime
    state_entered_at: datetime
    due_at: datetime | None
    escalated: bool
    escalation_level: int
    sla_breaches: int
    closed_at: datetime | None


class TransitionIn(BaseModel):
    """A transition to take."""

    name: str = Field(min_length=1, max_length=60)


# The one transition the bench takes, and who may take it (mingyue's core.general start_review).
START_REVIEW = ("start_review", ("submitted", "resubmitted"), "in_review")
REVIEWER_ROLES = frozenset({"reviewer", "regulator", "platform_admin"})


@cache
def engine() -> Engine:
    """Return the engine of ``$BARE_DATABASE_URL`` (SQLAlchemy's default pool settings)."""
    url = os.environ.get(URL_ENV)
    if not url:
        raise RuntimeError(f"set {URL_ENV}")
    return create_engine(url)


@cache
def sessions() -> sessionmaker[Session]:
    """Return the session factory."""
    return sessionmaker(bind=engine(), expire_on_commit=False)


def get_session() -> Iterator[Session]:
    """Open a session for the request."""
    with sessions()() as session:
        yield session


DB = Annotated[Session, Depends(get_session)]


def current_user(db: DB, authorization: Annotated[str, Header()] = "") -> User:
    """Return the user of the bearer token (401 otherwise)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "use 'Authorization: Bearer <token>'")
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    user = db.scalars(
        select(User)
        .join(Token, Token.user_id == User.id)
        .where(Token.token_hash == digest, Token.revoked.is_(False), User.is_active.is_(True))
    ).first()
    if user is None:
        raise HTTPException(401, "invalid or revoked API token")
    return user


Caller = Annotated[User, Depends(current_user)]
app = FastAPI(title="bare")


@app.get("/cases")
def list_cases(
    db: DB, user: Caller, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[CaseOut]:
    """List the caller's organization's cases, newest first."""
    rows = db.scalars(
        select(Case)
        .where(Case.organization_id == user.org_id)
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(limit)
    ).all()
    return [CaseOut.model_validate(c) for c in rows]


@app.post("/cases/{case_id}/transitions")
def transition(
    case_id: int,
    body: TransitionIn,
    db: DB,
    user: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> CaseOut:
    """Move a case once per Idempotency-Key (start_review only)."""
    case = db.get(Case, case_id, with_for_update=True)
    if case is None:
        raise HTTPException(404, "case not found")
    if idempotency_key is not None:
        prior = db.scalars(
            select(CaseEvent.id).where(
                CaseEvent.case_id == case.id, CaseEvent.idempotency_key == idempotency_key
            )
        ).first()
        if prior is not None:
            return CaseOut.model_validate(case)
    name, sources, target = START_REVIEW
    if body.name != name:
        raise HTTPException(422, "unknown transition")
    if not REVIEWER_ROLES.intersection(user.roles):
        raise HTTPException(403, "reviewers only")
    if case.state not in sources:
        raise HTTPException(409, f"{name} is not possible in state {case.state}")
    now = datetime.now(UTC)
    db.add(
        CaseEvent(
            organization_id=case.organization_id,
            case_id=case.id,
            name=name,
            actor=f"user:{user.username}",
            from_state=case.state,
            to_state=target,
            at=now,
            idempotency_key=idempotency_key,
        )
    )
    case.state = target
    case.state_entered_at = now
    case.due_at = now + timedelta(hours=72)
    db.commit()
    return CaseOut.model_validate(case)


def seed(eng: Engine, *, reader_cases: int, other_cases: int) -> dict[str, Any]:
    """Create the tables (dropped first) and the rows; return the tokens and the case ids.

    Two organizations: the reader's (an org admin whose list is read) with ``reader_cases``
    cases in state ``submitted``, and another one with ``other_cases``; a reviewer of a third
    organization takes transitions. Case ids are returned oldest first.
    """
    Base.metadata.drop_all(eng)
    Base.metadata.create_all(eng)
    tokens: dict[str, str] = {}
    now = datetime.now(UTC)
    with Session(eng) as db:
        orgs = [Org(name=n) for n in ("operator", "enterprise 1", "enterprise 2")]
        db.add_all(orgs)
        db.flush()
        people = {
            "reader": User(org_id=orgs[1].id, username="ent1_admin", roles=["org_admin"]),
            "reviewer": User(org_id=orgs[0].id, username="op_member", roles=["reviewer"]),
        }
        db.add_all(people.values())
        db.flush()
        for who, user in people.items():
            token = "bare_" + secrets.token_urlsafe(32)
            db.add(Token(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest()))
            tokens[who] = token
        for org, n in ((orgs[2], other_cases), (orgs[1], reader_cases)):
            db.add_all(
                Case(
                    organization_id=org.id,
                    kind="core.general",
                    title=f"bench case {i}",
                    state="submitted",
                    data={},
                    opened_by="system",
                    created_at=now + timedelta(microseconds=i),
                    state_entered_at=now,
                    due_at=now + timedelta(hours=24),
                )
                for i in range(n)
            )
        db.flush()
        ids = list(
            db.scalars(select(Case.id).where(Case.organization_id == orgs[1].id).order_by(Case.id))
        )
        db.commit()
    return {"tokens": tokens, "case_ids": ids}


def check() -> None:
    """Seed a SQLite file, list and transition in-process; raise AssertionError on a fault."""
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        os.environ[URL_ENV] = f"sqlite:///{Path(tmp) / 'bare.db'}"
        engine.cache_clear()
        sessions.cache_clear()
        try:
            out = seed(engine(), reader_cases=25, other_cases=5)
            reader = {"Authorization": f"Bearer {out['tokens']['reader']}"}
            reviewer = {"Authorization": f"Bearer {out['tokens']['reviewer']}"}
            with TestClient(app) as client:
                assert client.get("/cases").status_code == 401
                bad = {"Authorization": "Bearer nope"}
                assert client.get("/cases", headers=bad).status_code == 401
                r = client.get("/cases?limit=20", headers=reader)
                assert r.status_code == 200, r.text
                rows = r.json()
                assert len(rows) == 20
                assert rows[0]["id"] == out["case_ids"][-1]
                assert {row["organization_id"] for row in rows} == {rows[0]["organization_id"]}
                cid = out["case_ids"][0]
                h = {**reviewer, "Idempotency-Key": "check-0001"}
                body = {"name": "start_review"}
                r = client.post(f"/cases/{cid}/transitions", headers=h, json=body)
                assert r.status_code == 200 and r.json()["state"] == "in_review", r.text
                again = client.post(f"/cases/{cid}/transitions", headers=h, json=body)
                assert again.status_code == 200, again.text
                other = {**reviewer, "Idempotency-Key": "check-0002"}
                r = client.post(f"/cases/{cid}/transitions", headers=other, json=body)
                assert r.status_code == 409, r.text
                h = {**reader, "Idempotency-Key": "check-0003"}
                r = client.post(f"/cases/{out['case_ids'][1]}/transitions", headers=h, json=body)
                assert r.status_code == 403, r.text
        finally:
            engine().dispose()
            engine.cache_clear()
            sessions.cache_clear()
            os.environ.pop(URL_ENV, None)


def main() -> None:
    """Serve, seed or check (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--check", action="store_true", help="run the in-process self-test")
    sub = ap.add_subparsers(dest="cmd")
    sv = sub.add_parser("serve", help="serve with uvicorn (URL from $BARE_DATABASE_URL)")
    sv.add_argument("--port", type=int, default=8001)
    sv.add_argument("--workers", type=int, default=2)
    sd = sub.add_parser("seed", help="create the bare_* tables and rows; print JSON")
    sd.add_argument("--url", required=True)
    sd.add_argument("--cases", type=int, default=1000, help="cases of the reader's organization")
    sd.add_argument("--other-cases", type=int, default=10)
    args = ap.parse_args()
    if args.check:
        check()
        print("api_bare: check passed")
        return
    if args.cmd == "serve":
        import uvicorn

        if not os.environ.get(URL_ENV):
            sys.exit(f"error: set {URL_ENV}")
        uvicorn.run(
            "api_bare:app",
            app_dir=str(Path(__file__).parent),
            host="127.0.0.1",
            port=args.port,
            workers=args.workers,
            log_level="warning",
        )
    elif args.cmd == "seed":
        eng = create_engine(args.url)
        try:
            out = seed(eng, reader_cases=args.cases, other_cases=args.other_cases)
        finally:
            eng.dispose()
        json.dump(out, sys.stdout)
        sys.stdout.write("\n")
    else:
        ap.print_help(sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
