"""API: verifiable credentials (``/credentials…``) and uploads (``/files…``), mounted at /api."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Path, Query, UploadFile
from pydantic import BaseModel, Field

from mingyue.core import files
from mingyue.core.errors import InvalidInput
from mingyue.core.ledger import credentials, keys
from mingyue.core.ledger.credentials import CredentialOut
from mingyue.core.tenancy.access import Actor
from mingyue.web.deps import UoW, require

router = APIRouter(tags=["credentials"])

CredentialId = Annotated[
    str, Path(description="The credential's UUID or its urn:uuid id.", max_length=60)
]


class IssueIn(BaseModel):
    """A credential to sign: its type, subject, the subject's organization, validity."""

    type: str = Field(min_length=1, max_length=80, examples=["TerminalCertificate"])
    subject: dict[str, Any] = Field(min_length=1)
    organization_id: int = Field(ge=1, le=2**31 - 1)
    valid_days: int | None = Field(None, ge=1, le=36500)
    name: str | dict[str, str] | None = None
    description: str | dict[str, str] | None = None


class RevokeIn(BaseModel):
    """Why a credential is revoked."""

    reason: str = Field(min_length=1, max_length=2000)


class VerifyOut(BaseModel):
    """Outcome of verifying a credential against the platform key and its revocation status."""

    ok: bool
    reason: str
    detail: str
    credential_id: str | None
    revoked: bool
    issuer: str | None
    type: str | None
    issued_here: bool


class FileOut(BaseModel):
    """A stored file's metadata (its bytes stay server-side)."""

    id: int
    organization_id: int
    sha256: str
    size: int
    mime: str
    filename: str
    purpose: str
    uploaded_by: str
    created_at: datetime


@router.get("/credentials", operation_id="credentials-list")
def list_credentials(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.credential.read"))],
    type: Annotated[str | None, Query(max_length=80)] = None,
    revoked: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[CredentialOut]:
    """List the credentials the caller may see, newest first."""
    return credentials.list_credentials(
        uow=uow, actor=actor, type=type, revoked=revoked, limit=limit, offset=offset
    )


@router.post("/credentials", operation_id="credentials-issue", status_code=201)
def issue_credential(
    body: IssueIn, uow: UoW, actor: Annotated[Actor, Depends(require("core.credential.issue"))]
) -> CredentialOut:
    """Sign and store a credential (certificates issued by hand by a reviewer or regulator)."""
    vc = credentials.issue(uow=uow, **body.model_dump())
    return credentials.get_credential(uow=uow, actor=actor, credential_id=vc["id"])


@router.post("/credentials/verify", operation_id="credentials-verify")
def verify_credential(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.credential.read"))],
    vc: Annotated[dict[str, Any], Body(description="The credential (JSON).")],
) -> VerifyOut:
    """Verify a credential with the platform's key and the platform's revocation records."""
    public = keys.public_key_b64(uow.settings)
    result = credentials.verify(vc, public)
    issued_here = False
    if result.ok and result.credential_id:
        try:
            flag = credentials.is_revoked(uow.settings, result.credential_id)
        except InvalidInput:  # an id that is not a UUID was not issued here
            flag = None
        issued_here = flag is not None
        if flag:
            result = credentials.verify(vc, public, [result.credential_id])
    return VerifyOut(**result.to_dict(), issued_here=issued_here)


@router.get("/credentials/revocation-list", operation_id="credentials-revocation_list")
def revocation_list(
    uow: UoW, actor: Annotated[Actor, Depends(require("core.credential.read"))]
) -> dict[str, Any]:
    """Return the signed list of revoked credentials the caller may see (for offline checks)."""
    return credentials.revocation_list(uow=uow)


@router.get("/credentials/{credential_id}", operation_id="credentials-get")
def get_credential(
    credential_id: CredentialId,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.credential.read"))],
) -> CredentialOut:
    """Return one credential with its signed document."""
    return credentials.get_credential(uow=uow, actor=actor, credential_id=credential_id)


@router.get("/credentials/{credential_id}/status", operation_id="credentials-status")
def credential_status(
    credential_id: CredentialId,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.credential.read"))],
) -> dict[str, Any]:
    """Return whether the credential is revoked (what its credentialStatus names)."""
    return credentials.status(uow=uow, actor=actor, credential_id=credential_id)


@router.post("/credentials/{credential_id}/revoke", operation_id="credentials-revoke")
def revoke_credential(
    credential_id: CredentialId,
    body: RevokeIn,
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.credential.revoke"))],
) -> CredentialOut:
    """Revoke a credential; verification fails from then on."""
    return credentials.revoke(uow=uow, actor=actor, credential_id=credential_id, reason=body.reason)


@router.post("/files", operation_id="credentials-upload_file", status_code=201)
def upload_file(
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.file.upload"))],
    file: Annotated[UploadFile, File(description="The file to store.")],
    purpose: Annotated[str, Form(max_length=40)] = "upload",
) -> FileOut:
    """Store an upload (size cap → 413); answer its id, SHA-256, size and sniffed type."""
    stored = files.store(uow=uow, data=file.file, filename=file.filename, purpose=purpose)
    return FileOut(**stored.model_dump(exclude={"path"}))


@router.get("/files/{file_id}", operation_id="credentials-get_file")
def get_file(
    file_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    uow: UoW,
    actor: Annotated[Actor, Depends(require("core.file.read"))],
) -> FileOut:
    """Return a stored file's metadata."""
    return FileOut(
        **files.get_file(uow=uow, actor=actor, file_id=file_id).model_dump(exclude={"path"})
    )
