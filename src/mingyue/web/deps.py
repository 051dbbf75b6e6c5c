"""Typed dependencies for routes: the authenticated actor, permissions, the unit of work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request

from mingyue.core.config import Settings
from mingyue.core.db import session_factory
from mingyue.core.errors import NotFound
from mingyue.core.tenancy.access import Actor, check, scope_for
from mingyue.core.uow import UnitOfWork, close_after_error
from mingyue.web.auth import authenticate

# Ids a route takes in its path: beyond the column's range the database errs (SQLite raises
# OverflowError past 64 bits, PostgreSQL "integer out of range" past 2**31 - 1) instead of
# finding nothing, so the range is checked before any query (422).
ID_MAX = 2**31 - 1
BIG_ID_MAX = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=ID_MAX, description="Id (1 to 2^31-1)")]
"""The type of a path id of an ``Integer`` primary key (most tables)."""
BigIdPath = Annotated[int, Path(ge=1, le=BIG_ID_MAX, description="Id (1 to 2^63-1)")]
"""The type of a path id of a ``BigInteger`` key (ledger sequence numbers, stored files)."""


def get_settings_dep(request: Request) -> Settings:
    """Return the app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_actor(request: Request) -> Actor:
    """Authenticate the request (cached per request)."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        actor = authenticate(request, request.app.state.settings)
        request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require(permission: str) -> Callable[..., Actor]:
    """Return a dependency that authenticates and checks one permission."""

    def _dep(actor: CurrentActor) -> Actor:
        check(actor, permission)
        return actor

    _dep.__name__ = f"require_{permission.replace('.', '_')}"
    return _dep


def enabler_enabled(key: str) -> Callable[..., None]:
    """Return a dependency answering 404 when the actor's organization has the enabler off."""

    def _dep(actor: CurrentActor) -> None:
        if not actor.enabler_enabled(key):
            raise NotFound("core.enabler_disabled", f"{key} is not enabled for your organization")

    return _dep


def get_uow(request: Request, actor: CurrentActor) -> Iterator[UnitOfWork]:
    """Open the request's unit of work; commit after the route returns, roll back on error.

    A recorded refusal (``keep_work``) commits its trace before the error handler answers.
    """
    settings: Settings = request.app.state.settings
    session = session_factory(settings)()
    session.info["scope"] = scope_for(actor)
    session.info["actor"] = actor
    uow = UnitOfWork(session=session, actor=actor, settings=settings)
    try:
        yield uow
        uow.commit()
    except BaseException as exc:
        close_after_error(uow, exc)
        raise
    finally:
        session.close()


# scope="function": the unit of work commits when the route returns and BEFORE the response is
# sent, so a client never sees 201 for work that a failing commit then loses, and a follow-up
# request always reads what the answer promised (FastAPI's default "request" scope commits after
# the response has gone out).
UoW = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
