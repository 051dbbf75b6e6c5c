"""Organizations, users, roles and API tokens; password hashing (argon2); USCC validation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import JSON, Boolean, ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mingyue.core.db import Base, TenantMixin, utcnow
from mingyue.core.errors import InvalidInput
from mingyue.core.tenancy.access import ORG_KINDS, ROLES, Actor

# GB 32100-2015: the 31 characters of the code alphabet (no I, O, Z, S, V) and the weights.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_check_char(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a USCC."""
    total = 0
    for ch, w in zip(first17.upper(), USCC_WEIGHTS, strict=True):
        idx = USCC_ALPHABET.find(ch)
        if idx < 0:
            raise ValueError(f"character {ch!r} is not in the USCC alphabet")
        total += idx * w
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """Tell whether an 18-character unified social credit code is well-formed (GB 32100-2015)."""
    code = code.strip().upper()
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    try:
        return uscc_check_char(code[:17]) == code[17]
    except ValueError:
        return False


class Organization(Base):
    """An operator, an enterprise or a regulator."""

    __tablename__ = "core_organization"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True, nullable=True)
    is_sme: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: every installed enabler is enabled; else the list of enabled keys.
    enabled_enablers: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def enabler_enabled(self, key: str) -> bool:
        """Tell whether this organization has the enabler switched on."""
        return self.enabled_enablers is None or key in self.enabled_enablers


class User(TenantMixin, Base):
    """A person who logs in; belongs to one organization."""

    __tablename__ = "core_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    department: Mapped[str | None] = mapped_column(String(120), nullable=True)
    locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    last_failed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Logout bumps it; a session cookie is valid only in the epoch it was issued in.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")


class ApiToken(TenantMixin, Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "core_api_token"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(lazy="joined")


_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """Return the argon2id hash of a password."""
    if len(password) < 8:
        raise InvalidInput(
            "core.password_too_short", "password must have at least 8 characters", field="password"
        )
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Check a password against its argon2 hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


TOKEN_PREFIX = "myt_"  # noqa: S105 - a public prefix, not a secret


def new_token() -> tuple[str, str, str]:
    """Return (token shown once, prefix for display, SHA-256 hex stored)."""
    secret = secrets.token_urlsafe(32)
    token = TOKEN_PREFIX + secret
    return token, token[:12], token_digest(token)


def token_digest(token: str) -> str:
    """Return the stored form of a token (SHA-256: tokens are random, so no slow hash is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def validate_org(kind: str, uscc: str | None) -> None:
    """Check an organization's kind and (for enterprises) its unified social credit code."""
    if kind not in ORG_KINDS:
        raise InvalidInput(
            "core.org.bad_kind", f"kind must be one of {', '.join(ORG_KINDS)}", field="kind"
        )
    if kind == "enterprise" and not uscc:
        raise InvalidInput("core.org.uscc_required", "an enterprise needs its USCC", field="uscc")
    if uscc and not is_valid_uscc(uscc):
        raise InvalidInput(
            "core.org.bad_uscc",
            "unified social credit code fails the GB 32100-2015 check",
            field="uscc",
        )


def validate_roles(roles: list[str]) -> list[str]:
    """Check role names; return them de-duplicated."""
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InvalidInput(
            "core.user.bad_role", f"unknown role(s): {', '.join(bad)}", field="roles"
        )
    if not roles:
        raise InvalidInput("core.user.no_role", "a user needs at least one role", field="roles")
    return sorted(set(roles))


def actor_for(user: User) -> Actor:
    """Build the Actor of a user."""
    org = user.organization
    return Actor(
        user_id=user.id,
        username=user.username,
        organization_id=user.organization_id,
        org_kind=org.kind,
        roles=frozenset(user.roles),
        is_sme=bool(org.is_sme),
        org_name=org.name,
        locale=user.locale,
        enabled=frozenset(org.enabled_enablers) if org.enabled_enablers is not None else None,
    )


def find_user(session: Any, username: str) -> User | None:
    """Return the user with this name (the session must be a system session)."""
    user: User | None = session.scalars(select(User).where(User.username == username)).first()
    return user
