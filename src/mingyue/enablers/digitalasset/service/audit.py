"""Contract audit as a background job: upload a .sol file or a zip of sources, Slither + our rules.

The job runs every file with a per-file timeout (``MINGYUE_DIGITALASSET__AUDIT_TIMEOUT_S``) and can
be cancelled between files. Missing tools, a compile failure, a timeout or a Slither crash make a
file's status ``error`` with the reason: an audit never reports such a file as clean.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from mingyue.enablers.digitalasset.engine.audit import (
    FileResult,
    Toolchain,
    audit_path,
    discover,
    to_sarif,
)
from mingyue.enablers.digitalasset.models_monitor import DigitalassetContractAudit
from mingyue.enablers.digitalasset.schemas_monitor import AuditOut
from mingyue.enablers.digitalasset.settings import options
from mingyue.sdk import (
    Actor,
    JobContext,
    Settings,
    UnitOfWork,
    check,
    check_archive,
    enqueue,
    get_visible,
    now,
    require_org,
    store_upload,
    stored_path,
)
from mingyue.sdk.errors import InvalidInput, NotFound

MAX_UPLOAD = 32 * 1024 * 1024
MAX_MEMBERS = 2000


def tools_dir(settings: Settings) -> Path:
    """Where scripts/digitalasset-audit-setup.sh installed the tools (setting, else beside the venv)."""
    configured = options(settings).audit_tools
    if configured:
        return Path(configured)
    return Path(sys.prefix).resolve().parent / ".venv-da-audit"


def toolchain(settings: Settings) -> Toolchain:
    """The audit's tools as found on this machine (nothing is downloaded)."""
    return discover(tools_dir(settings))


def audit_local(target: Path, settings: Settings) -> list[FileResult]:
    """Audit a local file or folder now (the CLI's ``audit``; no database)."""
    if not target.exists():
        msg = f"{target} does not exist"
        raise InvalidInput("digitalasset.audit.not_found", msg, field="path", reason=msg)
    try:
        return audit_path(target, toolchain(settings), timeout_s=options(settings).audit_timeout_s)
    except ValueError as exc:
        raise InvalidInput(
            "digitalasset.audit.bad_input", str(exc), field="path", reason=str(exc)
        ) from exc


def submit_audit(*, uow: UnitOfWork, actor: Actor, data: bytes, filename: str) -> AuditOut:
    """Store the sources and queue the audit job."""
    check(actor, "digitalasset.audit.submit")
    org = require_org(actor)
    name = PurePosixPath(filename.replace("\\", "/")).name or "contract.sol"
    if not name.lower().endswith((".sol", ".zip")):
        raise InvalidInput(
            "digitalasset.audit.bad_input",
            "upload a .sol file or a .zip of .sol files",
            field="file",
        )
    if not data:
        raise InvalidInput("digitalasset.audit.bad_input", "the file is empty", field="file")
    stored = store_upload(
        uow=uow, upload=data, filename=name, purpose="digitalasset.audit", max_bytes=MAX_UPLOAD
    )
    row = DigitalassetContractAudit(
        organization_id=org,
        created_by=actor.username,
        filename=name,
        sha256=stored.sha256,
        file_id=stored.id,
    )
    uow.session.add(row)
    uow.session.flush()
    job = enqueue(uow=uow, kind="digitalasset.audit", params={"audit_id": row.id})
    row.job_id = job.id
    uow.audit(
        "digitalasset.audit.submitted",
        f"digitalasset_audit_run:{row.id}",
        {"filename": name, "sha256": stored.sha256},
    )
    return AuditOut.model_validate(row)


def _unpack(src: Path, name: str, dest: Path) -> Path:
    """Lay the sources out in ``dest``: the .sol file, or the .sol members of a zip (checked first)."""
    if name.lower().endswith(".sol"):
        target = dest / name
        target.write_bytes(src.read_bytes())
        return target
    check_archive(src)
    with zipfile.ZipFile(src) as zf:
        members = [
            m for m in zf.infolist() if not m.is_dir() and m.filename.lower().endswith(".sol")
        ]
        if not members:
            raise InvalidInput(
                "digitalasset.audit.bad_input", "the zip holds no .sol file", field="file"
            )
        if len(members) > MAX_MEMBERS:
            raise InvalidInput(
                "digitalasset.audit.bad_input", f"more than {MAX_MEMBERS} files", field="file"
            )
        for m in members:
            rel = PurePosixPath(m.filename.replace("\\", "/"))
            if rel.is_absolute() or ".." in rel.parts:
                raise InvalidInput(
                    "digitalasset.audit.bad_input",
                    f"unsafe path in the zip: {m.filename}",
                    field="file",
                )
            out = dest.joinpath(*rel.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as fh:
                out.write_bytes(fh.read())
    return dest


def run_audit_job(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Job handler: analyse the stored sources, keep per-file results and the SARIF log."""
    audit_id = int(params["audit_id"])
    with ctx.unit_of_work() as uow:
        row = get_visible(uow, DigitalassetContractAudit, audit_id)
        src = stored_path(uow=uow, file_id=row.file_id)
        name = row.filename
        row.status = "running"
    opts = options(ctx.settings)
    tools = toolchain(ctx.settings)
    results: list[FileResult] = []
    error = ""
    with tempfile.TemporaryDirectory(prefix="da-audit-job-") as tmp:
        try:
            target = _unpack(src, name, Path(tmp))
            results = audit_path(
                target,
                tools,
                timeout_s=opts.audit_timeout_s,
                progress=lambda i, n, f: ctx.progress(5 + 90 * i / max(1, n), f),
                cancelled=ctx.cancelled,
                mythril_timeout_s=opts.audit_mythril_timeout_s,
            )
        except InvalidInput as exc:
            error = exc.message
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
    with ctx.unit_of_work() as uow:
        row = get_visible(uow, DigitalassetContractAudit, audit_id)
        row.results = [_full(r) for r in results]
        row.sarif = to_sarif(results) if results else {}
        row.files_total = len(results)
        row.files_error = sum(r.status != "ok" for r in results)
        row.findings_total = sum(len(r.findings) for r in results)
        row.by_category = dict(Counter(f.category for r in results for f in r.findings))
        row.status = "error" if error else "done"
        row.error = error
        row.finished_at = now()
        uow.audit(
            "digitalasset.audit.finished",
            f"digitalasset_audit_run:{row.id}",
            {
                "status": row.status,
                "files": row.files_total,
                "errors": row.files_error,
                "findings": row.findings_total,
            },
            organization_id=row.organization_id,
        )
        return {
            "audit_id": row.id,
            "status": row.status,
            "findings": row.findings_total,
            "files_error": row.files_error,
        }


def _full(r: FileResult) -> dict[str, Any]:
    out = r.to_public()
    out["compiler"] = r.compiler
    out["relaxed_pragma"] = r.relaxed_pragma
    out["seconds"] = round(r.seconds, 2)
    out["findings"] = [{**f.to_public(), "message": f.message} for f in r.findings]
    return out


def get_audit(*, uow: UnitOfWork, actor: Actor, audit_id: int) -> AuditOut:
    """One audit (NotFound if absent or foreign)."""
    check(actor, "digitalasset.audit.read")
    return AuditOut.model_validate(get_visible(uow, DigitalassetContractAudit, audit_id))


def audit_sarif(*, uow: UnitOfWork, actor: Actor, audit_id: int) -> dict[str, Any]:
    """The SARIF 2.1.0 log of a finished audit."""
    check(actor, "digitalasset.audit.read")
    row = get_visible(uow, DigitalassetContractAudit, audit_id)
    if row.status not in ("done",):
        raise NotFound("digitalasset.audit.not_done", "this audit has no report yet")
    return dict(row.sarif)


def list_audits(*, uow: UnitOfWork, actor: Actor, limit: int = 50) -> list[AuditOut]:
    """Audits the actor may see, newest first."""
    check(actor, "digitalasset.audit.read")
    rows = uow.session.scalars(
        select(DigitalassetContractAudit)
        .order_by(DigitalassetContractAudit.id.desc())
        .limit(max(1, min(limit, 500)))
    )
    return [AuditOut.model_validate(r) for r in rows]
