"""Typed dependencies for routes: the authenticated actor, permissions, the unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from anyio import CancelScope, CapacityLimiter, to_thread
from fastapi import Depends, Path, Request
from starlette.concurrency import run_in_threadpool

from mingyue.core.config import Settings
from mingyue.core.db import session_factory
from mingyue.core.errors import NotFound
from mingyue.core.tenancy.access import Actor, check, scope_for
from mingyue.core.uow import UnitOfWork, close_after_error
from mingyue.web.auth import SESSION_COOKIE, authenticate, cached_actor

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


async def get_actor(request: Request) -> Actor:
    """Authenticate the request (cached per request)."""
    actor: Actor | None = getattr(request.state, "actor", None)
    if actor is None:
        settings: Settings = request.app.state.settings
        # A sync dependency costs a hop to the thread pool (docs/performance.md): a token in the
        # actor cache is answered here; only a database look-up goes to a thread.
        actor = cached_actor(request, settings)
        if actor is None:
            actor = await run_in_threadpool(authenticate, request, settings)
        request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


def require(permission: str) -> Callable[..., Awaitable[Actor]]:
    """Return a dependency that authenticates and checks one permission."""

    # async: the check does no I/O, so it runs on the event loop, not in a thread-pool hop.
    async def _dep(actor: CurrentActor) -> Actor:
        check(actor, permission)
        return actor

    _dep.__name__ = f"require_{permission.replace('.', '_')}"
    return _dep


def enabler_enabled(key: str) -> Callable[..., Awaitable[None]]:
    """Return a dependency answering 404 when the actor's organization has the enabler off."""

    async def _dep(actor: CurrentActor) -> None:
        if not actor.enabler_enabled(key):
            raise NotFound("core.enabler_disabled", f"{key} is not enabled for your organization")

    return _dep


def enabler_enabled_if_signed_in(key: str) -> Callable[..., Awaitable[None]]:
    """Like ``enabler_enabled`` for a standard-interface mount, whose spec may make some reads
    public (Open311 GETs): a request without credentials passes to the route, which decides;
    a request with credentials is authenticated and refused where the enabler is off."""

    async def _dep(request: Request) -> None:
        if not request.headers.get("authorization") and SESSION_COOKIE not in request.cookies:
            return
        actor = await get_actor(request)
        if not actor.enabler_enabled(key):
            raise NotFound("core.enabler_disabled", f"{key} is not enabled for your organization")

    return _dep


def _end_uow(uow: UnitOfWork, exc: BaseException | None) -> None:
    """Commit (or roll back after ``exc``) and close the unit of work (in a worker thread)."""
    try:
        if exc is None:
            try:
                uow.commit()
            except BaseException as failed:
                close_after_error(uow, failed)
                raise
        else:
            close_after_error(uow, exc)
    finally:
        uow.session.close()


async def get_uow(request: Request, actor: CurrentActor) -> AsyncIterator[UnitOfWork]:
    """Open the request's unit of work; commit after the route returns, roll back on error.

    A recorded refusal (``keep_work``) commits its trace before the error handler answers.
    """
    # Opening a session does no I/O (it connects on its first query, in the route's thread), so
    # it happens here on the event loop; the commit or rollback goes to a thread, shielded from
    # cancellation and outside the thread pool's limit as FastAPI does for a sync generator
    # (a full pool must not keep a connection from being given back).
    settings: Settings = request.app.state.settings
    session = session_factory(settings)()
    session.info["scope"] = scope_for(actor)
    session.info["actor"] = actor
    uow = UnitOfWork(session=session, actor=actor, settings=settings)
    try:
        yield uow
    except BaseException as exc:
        with CancelScope(shield=True):
            await to_thread.run_sync(_end_uow, uow, exc, limiter=CapacityLimiter(1))
        raise
    with CancelScope(shield=True):
        await to_thread.run_sync(_end_uow, uow, None, limiter=CapacityLimiter(1))


# scope="function": the unit of work commits when the route returns and BEFORE the response is
# sent, so a client never sees 201 for work that a failing commit then loses, and a follow-up
# request always reads what the answer promised (FastAPI's default "request" scope commits after
# the response has gone out).
UoW = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
