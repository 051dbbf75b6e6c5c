"""Verifiable credentials: reports and certificates as W3C VCs (Data Model 2.0) signed Ed25519.

Shape: ``@context`` [credentials/v2], ``id`` ``urn:uuid:…``, ``type`` ["VerifiableCredential",
<type>], ``issuer`` = the ``did:key`` of the platform's Ed25519 key (self-describing, so a
verifier needs no resolver and no network; it trusts the platform by comparing that key with the
platform public key it holds), ``validFrom`` / optional ``validUntil``, ``credentialSubject``,
``credentialStatus`` (type ``MingyueRevocationStatus``: the platform's answer at
``<base_url>/api/credentials/<uuid>/status``, or a signed revocation list used offline), and an
``eddsa-jcs-2022`` Data Integrity ``proof`` (see ``dataintegrity.py``).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Boolean, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from mingyue.core.config import Settings, get_settings
from mingyue.core.db import Base, TenantMixin, system_session, utcnow
from mingyue.core.errors import Conflict, InvalidInput, NotFound
from mingyue.core.ledger import keys
from mingyue.core.ledger.dataintegrity import add_proof, did_of, format_time, verify_proof
from mingyue.core.ledger.jcs import MAX_SAFE_INTEGER, canonicalize, did_key_from_public
from mingyue.core.tenancy.access import Actor, check
from mingyue.core.tenancy.identity import Organization
from mingyue.core.uow import UnitOfWork

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
STATUS_TYPE = "MingyueRevocationStatus"
REVOCATION_LIST_TYPE = "MingyueRevocationList"
_TYPE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,79}$")


class Credential(TenantMixin, Base):
    """An issued credential; the organization is the subject's."""

    __tablename__ = "core_credential"

    # The uuid; the credential's own id is urn:uuid:<id>.
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(80), index=True)
    json: Mapped[dict[str, Any]] = mapped_column(JSON)
    sha256: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[datetime | None] = mapped_column(nullable=True)
    issued_by: Mapped[str] = mapped_column(String(120), default="system")
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CredentialOut(BaseModel):
    """An issued credential as the API and CLI show it."""

    id: str
    type: str
    organization_id: int
    sha256: str
    issued_at: datetime
    valid_until: datetime | None
    issued_by: str
    revoked: bool
    revoked_reason: str | None
    revoked_at: datetime | None
    credential: dict[str, Any]


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of verifying one credential (``reason`` is an i18n key, ``detail`` English)."""

    ok: bool
    reason: str
    credential_id: str | None
    revoked: bool = False
    detail: str = ""
    issuer: str | None = None
    type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain data."""
        return asdict(self)


def urn(credential_id: str) -> str:
    """Return the VC id (``urn:uuid:…``) of a stored credential id."""
    return credential_id if credential_id.startswith("urn:uuid:") else f"urn:uuid:{credential_id}"


def bare_id(credential_id: str) -> str:
    """Return the stored id of a credential given its uuid or ``urn:uuid:`` form."""
    raw = credential_id.removeprefix("urn:uuid:").strip()
    try:
        return str(uuid.UUID(raw))
    except ValueError as exc:
        raise InvalidInput(
            "core.credential.bad_id", "not a credential id (a UUID)", field="credential_id"
        ) from exc


def _plain_json(value: Any) -> Any:
    """Turn Decimal/datetime/UUID into strings so the subject is plain JSON (JCS signs JSON)."""

    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return str(o)
        if isinstance(o, datetime):
            return format_time(o) if o.tzinfo else o.isoformat()
        if isinstance(o, uuid.UUID):
            return str(o)
        raise InvalidInput(
            "core.credential.bad_subject", f"{type(o).__name__} is not JSON", field="subject"
        )

    try:
        plain = json.loads(json.dumps(value, default=default, allow_nan=False))
    except ValueError as exc:
        raise InvalidInput("core.credential.bad_subject", str(exc), field="subject") from exc
    _refuse_unsafe_integers(plain)
    return plain


def _refuse_unsafe_integers(value: Any) -> None:
    # A verifier reads JSON numbers as doubles: a larger integer would not mean what was signed.
    if isinstance(value, bool):
        return
    if isinstance(value, int) and abs(value) > MAX_SAFE_INTEGER:
        raise InvalidInput(
            "core.credential.bad_subject",
            f"integer {value} exceeds 2**53: pass it as a string",
            field="subject",
        )
    if isinstance(value, dict):
        for v in value.values():
            _refuse_unsafe_integers(v)
    elif isinstance(value, list):
        for v in value:
            _refuse_unsafe_integers(v)


def _language_value(value: str | Mapping[str, str], field: str) -> Any:
    # VC 2.0 §11.1: a plain string, or language value objects ({"zh": …, "en": …} given).
    if isinstance(value, str):
        return value
    if (
        isinstance(value, Mapping)
        and value
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        return [{"@value": v, "@language": k.replace("_", "-")} for k, v in value.items()]
    raise InvalidInput(
        "core.credential.bad_subject", f"{field} must be text or a language map", field=field
    )


def issue(
    *,
    uow: UnitOfWork,
    type: str,
    subject: Mapping[str, Any],
    organization_id: int,
    valid_days: int | None = None,
    name: str | Mapping[str, str] | None = None,
    description: str | Mapping[str, str] | None = None,
    public_fields: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Sign a credential about ``subject`` for the organization, store it and record it.

    ``name`` / ``description`` are text or a language map (``{"zh": "…", "en": "…"}``).
    ``public_fields`` names the top-level subject fields the public verification page
    (``/verify/<id>``) may show to anyone; they are signed into the credential as
    ``publicFields``. Without it the page shows only the status, type, issuer and dates.
    """
    if not _TYPE_RE.match(type) or type == "VerifiableCredential":
        raise InvalidInput(
            "core.credential.bad_type", "credential type must be a plain name", field="type"
        )
    if not isinstance(subject, Mapping) or not subject:
        raise InvalidInput(
            "core.credential.bad_subject", "subject must be a non-empty object", field="subject"
        )
    if valid_days is not None and valid_days <= 0:
        raise InvalidInput(
            "core.credential.bad_validity", "valid_days must be positive", field="valid_days"
        )
    if not 0 < organization_id < 2**31 or uow.session.get(Organization, organization_id) is None:
        raise InvalidInput(
            "core.credential.bad_organization", "no such organization", field="organization_id"
        )
    cid = str(uuid.uuid4())
    now = utcnow().replace(microsecond=0)
    key = keys.signing_key(uow.settings)
    doc: dict[str, Any] = {
        "@context": [VC_CONTEXT],
        "id": urn(cid),
        "type": ["VerifiableCredential", type],
    }
    if name is not None:
        doc["name"] = _language_value(name, "name")
    if description is not None:
        doc["description"] = _language_value(description, "description")
    doc["issuer"] = did_of(key)
    doc["validFrom"] = format_time(now)
    until = now + timedelta(days=valid_days) if valid_days else None
    if until is not None:
        doc["validUntil"] = format_time(until)
    doc["credentialSubject"] = _plain_json(dict(subject))
    if public_fields:
        unknown = [f for f in public_fields if f not in doc["credentialSubject"]]
        if unknown:
            raise InvalidInput(
                "core.credential.bad_public_fields",
                f"public field {unknown[0]!r} is not a field of the subject",
                field="public_fields",
            )
        doc["publicFields"] = sorted(set(public_fields))
    doc["credentialStatus"] = {
        "id": f"{uow.settings.base_url.rstrip('/')}/api/credentials/{cid}/status",
        "type": STATUS_TYPE,
        "statusPurpose": "revocation",
    }
    vc = add_proof(doc, key, now)
    digest = hashlib.sha256(canonicalize(vc)).hexdigest()
    uow.session.add(
        Credential(
            id=cid,
            organization_id=organization_id,
            type=type,
            json=vc,
            sha256=digest,
            issued_at=now,
            valid_until=until,
            issued_by=uow.actor.label(),
        )
    )
    uow.flush()
    uow.audit(
        "core.credential.issued",
        f"core_credential:{cid}",
        {"type": type, "sha256": digest, "valid_until": doc.get("validUntil")},
        organization_id=organization_id,
    )
    return vc


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return None
    return t if t.tzinfo else None


def verify(
    vc: Mapping[str, Any],
    public_key_b64: str | None = None,
    revoked_ids: Iterable[str] | None = None,
    *,
    now: datetime | None = None,
) -> VerifyResult:
    """Check a credential offline: shape, signature, trusted key, validity period, revocation.

    The proof must be made by ``public_key_b64`` (base64 Ed25519); without it, by this
    platform's own key (``core.credential.no_key`` when the platform has none yet).
    """
    if not isinstance(vc, Mapping):
        return VerifyResult(False, "core.credential.malformed", None, detail="not a JSON object")
    cid = vc.get("id") if isinstance(vc.get("id"), str) else None
    types = vc.get("type")
    vc_type = (
        next((t for t in types if t != "VerifiableCredential"), None)
        if isinstance(types, list)
        else None
    )
    issuer_field = vc.get("issuer")
    issuer = issuer_field.get("id") if isinstance(issuer_field, Mapping) else issuer_field

    def result(reason: str, detail: str, *, revoked: bool = False) -> VerifyResult:
        return VerifyResult(
            reason == "core.credential.valid",
            reason,
            cid,
            revoked,
            detail,
            issuer if isinstance(issuer, str) else None,
            vc_type,
        )

    ctx = vc.get("@context")
    if (
        not (isinstance(ctx, list) and ctx and ctx[0] == VC_CONTEXT)
        or cid is None
        or not isinstance(types, list)
        or "VerifiableCredential" not in types
        or not isinstance(issuer, str)
        or not isinstance(vc.get("credentialSubject"), Mapping)
    ):
        return result(
            "core.credential.malformed",
            "not a VC 2.0 credential (context, id, type, issuer, subject)",
        )
    if public_key_b64 is None:
        settings = get_settings()
        if not keys.key_path(settings).exists():  # never create a key just to verify
            return result("core.credential.no_key", "no trusted key: this platform has none")
        public_key_b64 = keys.public_key_b64(settings)
    try:
        expected = keys.load_public(public_key_b64).public_bytes_raw()
    except ValueError as exc:
        return result("core.credential.bad_key", str(exc))
    proof = verify_proof(vc, expected)
    if not proof.ok:
        return result(proof.reason, proof.detail)
    if proof.signer_did != issuer:
        return result("core.credential.wrong_key", "the proof's key is not the issuer's did:key")
    now = now or utcnow()
    valid_from, valid_until = _parse_time(vc.get("validFrom")), vc.get("validUntil")
    if valid_from is None:
        return result("core.credential.malformed", "validFrom is missing or not a dateTimeStamp")
    if valid_from > now:
        return result("core.credential.not_yet_valid", f"valid from {vc['validFrom']}")
    if valid_until is not None:
        until = _parse_time(valid_until)
        if until is None:
            return result("core.credential.malformed", "validUntil is not a dateTimeStamp")
        if until <= now:
            return result("core.credential.expired", f"expired at {valid_until}")
    if revoked_ids is not None and urn(cid) in {urn(r) for r in revoked_ids}:
        return result("core.credential.revoked", "the issuer revoked this credential", revoked=True)
    return result("core.credential.valid", "signature and validity ok")


def _out(row: Credential) -> CredentialOut:
    return CredentialOut(
        id=urn(row.id),
        type=row.type,
        organization_id=row.organization_id,
        sha256=row.sha256,
        issued_at=row.issued_at,
        valid_until=row.valid_until,
        issued_by=row.issued_by,
        revoked=row.revoked,
        revoked_reason=row.revoked_reason,
        revoked_at=row.revoked_at,
        credential=row.json,
    )


def _load(uow: UnitOfWork, credential_id: str) -> Credential:
    row = uow.session.scalars(
        select(Credential).where(Credential.id == bare_id(credential_id))
    ).first()
    if row is None:
        raise NotFound("core.credential.not_found", "no such credential")
    return row


def get_credential(*, uow: UnitOfWork, actor: Actor, credential_id: str) -> CredentialOut:
    """Return one credential the actor may see."""
    check(actor, "core.credential.read")
    return _out(_load(uow, credential_id))


def list_credentials(
    *,
    uow: UnitOfWork,
    actor: Actor,
    type: str | None = None,
    revoked: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CredentialOut]:
    """Return the credentials the actor may see, newest first."""
    check(actor, "core.credential.read")
    q = select(Credential).order_by(Credential.issued_at.desc(), Credential.id)
    if type is not None:
        q = q.where(Credential.type == type)
    if revoked is not None:
        q = q.where(Credential.revoked.is_(revoked))
    q = q.limit(max(1, min(limit, 1000))).offset(max(0, min(offset, 10**9)))
    return [_out(r) for r in uow.session.scalars(q)]


def revoke(
    *, uow: UnitOfWork, credential_id: str, reason: str, actor: Actor | None = None
) -> CredentialOut:
    """Revoke a credential (it then fails verification) and record why."""
    actor = actor or uow.actor
    check(actor, "core.credential.revoke")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "core.credential.reason_required", "a reason is required", field="reason"
        )
    row = _load(uow, credential_id)
    check(actor, "core.credential.revoke", row)
    if row.revoked:
        raise Conflict("core.credential.already_revoked", "the credential is already revoked")
    row.revoked, row.revoked_reason, row.revoked_at = True, reason[:2000], utcnow()
    uow.flush()
    uow.audit(
        "core.credential.revoked",
        f"core_credential:{row.id}",
        {"reason": row.revoked_reason, "sha256": row.sha256},
        organization_id=row.organization_id,
    )
    return _out(row)


def status(*, uow: UnitOfWork, actor: Actor, credential_id: str) -> dict[str, Any]:
    """Return the revocation status of one credential (what ``credentialStatus`` points at)."""
    row = _load(uow, credential_id)
    check(actor, "core.credential.read", row)
    return {
        "id": urn(row.id),
        "revoked": row.revoked,
        "revoked_at": row.revoked_at,
        "reason": row.revoked_reason,
        "checked_at": utcnow(),
    }


def revoked_ids(*, uow: UnitOfWork) -> list[str]:
    """Return the ids (urn:uuid) of every revoked credential visible in this unit of work."""
    q = select(Credential.id).where(Credential.revoked.is_(True)).order_by(Credential.id)
    return [urn(i) for i in uow.session.scalars(q)]


def is_revoked(settings: Settings, credential_id: str) -> bool | None:
    """Tell whether the platform revoked a credential (None: the platform never issued it).

    Reads one flag across tenants: whoever holds a signed credential may learn its status.
    It opens its own short session; inside a unit of work that has written (SQLite holds the
    write lock), use ``status`` or ``revoked_ids`` instead.
    """
    with system_session(settings, "credential revocation status") as s:
        flag = s.scalars(
            select(Credential.revoked).where(Credential.id == bare_id(credential_id))
        ).first()
    return None if flag is None else bool(flag)


def revocation_list(*, uow: UnitOfWork) -> dict[str, Any]:
    """Return a signed list of revoked credential ids, for verifiers that work offline."""
    now = utcnow().replace(microsecond=0)
    key = keys.signing_key(uow.settings)
    doc = {
        "type": REVOCATION_LIST_TYPE,
        "issuer": did_of(key),
        "issued": format_time(now),
        "revoked": revoked_ids(uow=uow),
    }
    return add_proof(doc, key, now)


def read_revocation_list(doc: Any, public_key_b64: str | None) -> list[str]:
    """Return the ids in a revocation list: a JSON array, or a signed list checked with the key."""
    if isinstance(doc, list) and all(isinstance(i, str) for i in doc):
        return [urn(i) for i in doc]
    if (
        not isinstance(doc, Mapping)
        or doc.get("type") != REVOCATION_LIST_TYPE
        or not isinstance(doc.get("revoked"), list)
    ):
        raise InvalidInput(
            "core.credential.bad_revocation_list",
            "not a revocation list (a JSON array of ids or a signed list)",
        )
    expected = keys.load_public(public_key_b64).public_bytes_raw() if public_key_b64 else None
    result = verify_proof(doc, expected)
    if not result.ok or result.signer_did != doc.get("issuer"):
        raise InvalidInput(
            "core.credential.bad_revocation_list",
            f"the revocation list's signature is not valid: {result.detail}",
        )
    return [urn(str(i)) for i in doc["revoked"]]


def issuer_did_for_key(public_key_b64: str) -> str:
    """Return the issuer did:key that corresponds to a base64 platform public key."""
    return did_key_from_public(keys.load_public(public_key_b64).public_bytes_raw())


@dataclass(frozen=True)
class PublicView:
    """What anyone may learn of a credential issued here (the public verification page)."""

    id: str
    type: str
    status: str  # valid | revoked | expired
    issuer: str
    issued_at: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    name: Any
    public_subject: dict[str, Any]


def public_view(settings: Settings, credential_id: str) -> PublicView | None:
    """Return the public facts of a credential issued here, or None when there is none.

    Reads across tenants on purpose (whoever holds a credential's id may check it, like
    ``is_revoked``): the status, type, issuer, dates and only the subject fields the issuer
    listed in ``publicFields`` — never the rest of the subject.
    """
    cid = bare_id(credential_id)
    with system_session(settings, "public credential verification") as s:
        row = s.scalars(select(Credential).where(Credential.id == cid)).first()
        if row is None:
            return None
        doc = dict(row.json)
        revoked, revoked_at = bool(row.revoked), row.revoked_at
        issued_at, until = row.issued_at, row.valid_until
        vc_type = row.type
    subject = doc.get("credentialSubject")
    subject = subject if isinstance(subject, Mapping) else {}
    listed = doc.get("publicFields")
    names = [n for n in listed if isinstance(n, str)] if isinstance(listed, list) else []
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=utcnow().tzinfo)
    status_ = (
        "revoked"
        if revoked
        else ("expired" if until is not None and until <= utcnow() else "valid")
    )
    issuer = doc.get("issuer")
    return PublicView(
        id=urn(cid),
        type=vc_type,
        status=status_,
        issuer=issuer if isinstance(issuer, str) else "",
        issued_at=issued_at,
        valid_until=until,
        revoked_at=revoked_at,
        name=doc.get("name"),
        public_subject={n: subject[n] for n in names if n in subject},
    )
