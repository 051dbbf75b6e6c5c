"""A small world for the cases tests, built with the shared fixtures of ``mingyue.testing``.

Four organizations (operator OP, enterprises A and B, regulator REG), their users and actors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from mingyue.core.config import Settings
from mingyue.core.db import MingyueSession, system_session
from mingyue.core.tenancy.access import Actor
from mingyue.core.uow import UnitOfWork

USERS = {  # username: (org, roles)
    "a_admin": ("A", ("org_admin",)),
    "a_member": ("A", ("member",)),
    "b_admin": ("B", ("org_admin",)),
    "reviewer": ("OP", ("reviewer",)),
    "reviewer2": ("OP", ("reviewer",)),
    "admin": ("OP", ("platform_admin",)),
    "regulator": ("REG", ("regulator",)),
    "auditor": ("REG", ("auditor",)),
}


@dataclass
class World:
    """Settings, organization ids, user ids and actors of one test."""

    settings: Settings
    uow_as: Callable[[Actor], AbstractContextManager[UnitOfWork]]
    orgs: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)

    @classmethod
    def build(
        cls, settings: Settings, make_org: Any, make_user: Any, actor_of: Any, uow_as: Any
    ) -> World:
        """Create the organizations and users through the shared factories."""
        w = cls(settings=settings, uow_as=uow_as)
        orgs = {
            "OP": make_org(kind="operator", name="运营方"),
            "A": make_org(kind="enterprise", sme=True, name="甲企业"),
            "B": make_org(kind="enterprise", name="乙企业"),
            "REG": make_org(kind="regulator", name="监管局"),
        }
        w.orgs = {k: o.id for k, o in orgs.items()}
        for name, (org_key, roles) in USERS.items():
            user = make_user(orgs[org_key], roles=roles, username=name)
            w.users[name] = user.id
            w.actors[name] = actor_of(user)
        return w

    @contextmanager
    def system(self) -> Iterator[MingyueSession]:
        """Open a session over all organizations."""
        with system_session(self.settings, "test check") as s:
            yield s
