"""One unit of work per request, command or job: a session, the actor, the ledger buffer.

Services never commit: they take ``uow`` and ``actor`` keyword arguments and write through
``uow.session``; ``uow.audit(...)`` queues a ledger entry that is written in the same
transaction when the unit of work commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mingyue.core.config import Settings, get_settings
from mingyue.core.db import MingyueSession, Scope, session_factory
from mingyue.core.ledger.audit import append_pending
from mingyue.core.registries import PendingEntry, known_event
from mingyue.core.tenancy.access import SYSTEM, Actor, scope_for


@dataclass
class UnitOfWork:
    """A transaction with its actor; see the module docstring."""

    session: MingyueSession
    actor: Actor
    settings: Settings
    pending_audit: list[PendingEntry] = field(default_factory=list)
    committed: bool = False

    def audit(
        self,
        action: str,
        subject: str,
        payload: dict[str, Any] | None = None,
        *,
        organization_id: int | None = None,
    ) -> None:
        """Queue a ledger entry for this transaction (``action`` is a registered event kind)."""
        if not known_event(action):
            raise KeyError(f"unregistered audit event: {action}")
        org = organization_id if organization_id is not None else self.actor.organization_id
        self.pending_audit.append(
            PendingEntry(
                action=action,
                subject=subject,
                payload=payload or {},
                organization_id=org,
                actor=self.actor.label(),
            )
        )

    @contextmanager
    def unscoped(self, reason: str, *, record: bool = True) -> Iterator[MingyueSession]:
        """Lift the tenant filter for an explicit cross-tenant operation.

        ``record=True`` (the default) writes a ledger entry: use it where work changes or shows
        another tenant's data. ``record=False`` is for platform-internal reads that reveal
        nothing of another tenant to the caller (a uniqueness check, capacity arithmetic) —
        reads must not write the ledger.
        """
        if not reason:
            raise ValueError("unscoped() needs a reason")
        before = self.session.info.get("scope")
        self.session.info["scope"] = Scope.everything(reason)
        if record:
            self.audit("core.scope.unscoped", f"reason:{reason}", {"reason": reason})
        try:
            yield self.session
        finally:
            self.session.info["scope"] = before

    def flush(self) -> None:
        """Flush pending ORM changes (to get generated ids) without committing."""
        self.session.flush()

    def commit(self) -> None:
        """Write queued ledger entries and commit everything together."""
        if self.pending_audit:
            append_pending(self.session, self.pending_audit, self.settings)
            self.pending_audit = []
        self.session.commit()
        self.committed = True


def close_after_error(uow: UnitOfWork, exc: BaseException) -> None:
    """End a unit of work that an error interrupted: roll back, or commit a recorded refusal.

    An error with ``keep_work`` (``mingyue.core.errors.RecordedRefusal``) is raised after the
    service wrote only the refusal's own trace; that trace is committed so that the refusal stays
    on the ledger although the caller sees an error.
    """
    if getattr(exc, "keep_work", False) and not uow.committed:
        try:
            uow.commit()
            return
        except BaseException:
            uow.session.rollback()
            raise
    uow.session.rollback()


@contextmanager
def unit_of_work(
    actor: Actor = SYSTEM, settings: Settings | None = None, *, scope: Scope | None = None
) -> Iterator[UnitOfWork]:
    """Open a unit of work for the actor; commit on success, roll back on any error."""
    settings = settings or get_settings()
    session = session_factory(settings)()
    session.info["scope"] = scope if scope is not None else scope_for(actor)
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
