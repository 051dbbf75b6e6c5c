"""Demo data: one operator, two enterprises (one SME), one regulator; users, cases, usage, ledger."""

from __future__ import annotations

import json
import os
import secrets
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mingyue.core import cases, clock, jobs, metering
from mingyue.core.config import Settings
from mingyue.core.db import utcnow
from mingyue.core.ledger import audit
from mingyue.core.metering.tou import month_bounds
from mingyue.core.plugins import registry
from mingyue.core.tenancy import accounts
from mingyue.core.tenancy.access import SYSTEM
from mingyue.core.tenancy.identity import Organization, User, uscc_check_char, verify_password
from mingyue.core.uow import unit_of_work

ORGS: list[dict[str, Any]] = [
    {
        "key": "op",
        "name": "明月湖π运营中心",
        "kind": "operator",
        "uscc": None,
        "is_sme": False,
        "admin_roles": ["platform_admin", "org_admin"],
        "member_roles": ["member", "reviewer"],
    },
    {
        "key": "ent1",
        "name": "重庆两江智算科技有限公司",
        "kind": "enterprise",
        "uscc": "91500000MA5U0001X",
        "is_sme": True,
        "admin_roles": ["org_admin"],
        "member_roles": ["member"],
    },
    {
        "key": "ent2",
        "name": "重庆明月湖数据服务有限公司",
        "kind": "enterprise",
        "uscc": "91500000MA5U0002X",
        "is_sme": False,
        "admin_roles": ["org_admin"],
        "member_roles": ["member"],
    },
    {
        "key": "reg",
        "name": "两江新区网信办",
        "kind": "regulator",
        "uscc": None,
        "is_sme": False,
        "admin_roles": ["org_admin", "regulator"],
        "member_roles": ["regulator"],
    },
]


def _uscc(base17: str) -> str:
    return base17 + uscc_check_char(base17)


PASSWORDS_FILE = "demo-passwords.json"
CHANGED_BY_USER = "(changed by its user)"


def _password() -> str:
    fixed = os.environ.get("MINGYUE_DEMO_PASSWORD")
    return fixed if fixed else "my-" + secrets.token_urlsafe(9)


def passwords_path(settings: Settings) -> Path:
    """Return the file that keeps the demo users' passwords (mode 0600, in the data dir)."""
    return settings.data_dir / PASSWORDS_FILE


def _kept_passwords(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, str) and len(v) >= 8}


def _keep_passwords(path: Path, passwords: dict[str, str]) -> None:
    # Written owner-only from the first byte (no window in which others may read it).
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(passwords, f, ensure_ascii=False, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _demo_password(user: User | None, username: str, kept: dict[str, str]) -> tuple[str, bool]:
    """Return (password, whether to set it): a re-run keeps the password the file remembers.

    ``MINGYUE_DEMO_PASSWORD`` wins; a user whose password no longer matches the file (changed
    by a person) is left alone.
    """
    fixed = os.environ.get("MINGYUE_DEMO_PASSWORD")
    if user is None:
        return fixed or kept.get(username) or _password(), True
    if fixed:
        return fixed, not verify_password(user.password_hash, fixed)
    known = kept.get(username)
    if known is None:
        return _password(), True  # a data dir from before the file existed
    if verify_password(user.password_hash, known):
        return known, False
    return CHANGED_BY_USER, False


def build_demo(settings: Settings, url: str = "http://127.0.0.1:8000/") -> dict[str, Any]:
    """Create (or refresh) the demo organizations, users and sample activity; return logins."""
    users_out: list[dict[str, Any]] = []
    org_ids: dict[str, int] = {}
    fresh = False
    kept_file = passwords_path(settings)
    kept = _kept_passwords(kept_file)
    with unit_of_work(SYSTEM, settings) as uow:
        for spec in ORGS:
            uscc = _uscc(spec["uscc"][:17]) if spec["uscc"] else None
            org = uow.session.scalars(
                select(Organization).where(Organization.name == spec["name"])
            ).first()
            if org is None:
                fresh = True
                out = accounts.create_org(
                    uow=uow,
                    actor=SYSTEM,
                    name=spec["name"],
                    kind=spec["kind"],
                    uscc=uscc,
                    is_sme=spec["is_sme"],
                )
                org_ids[spec["key"]] = out.id
            else:
                org_ids[spec["key"]] = org.id
            for role_kind in ("admin", "member"):
                username = f"{spec['key']}_{role_kind}"
                user = uow.session.scalars(select(User).where(User.username == username)).first()
                password, set_it = _demo_password(user, username, kept)
                if user is None:
                    created = accounts.create_user(
                        uow=uow,
                        actor=SYSTEM,
                        username=username,
                        password=password,
                        organization_id=org_ids[spec["key"]],
                        roles=spec[f"{role_kind}_roles"],
                        display_name=f"{spec['name']} {'管理员' if role_kind == 'admin' else '成员'}",
                    )
                    uid = created.id
                else:
                    uid = user.id
                    if set_it:
                        accounts.set_password(uow=uow, actor=SYSTEM, user_id=uid, password=password)
                if password != CHANGED_BY_USER:
                    kept[username] = password
                token = accounts.issue_token(uow=uow, actor=SYSTEM, user_id=uid, name="demo")
                users_out.append(
                    {
                        "username": username,
                        "password": password,
                        "organization": spec["name"],
                        "role": ",".join(spec[f"{role_kind}_roles"]),
                        "api_token": token.token,
                    }
                )
    seeded: set[str] = set()
    if fresh:
        # Sample activity is created once; re-running the demo only refreshes the logins.
        before = _usernames(settings)
        _sample_activity(settings, org_ids)
        _enabler_demos(settings, org_ids)
        _closed_month(settings, org_ids)
        seeded = _usernames(settings) - before
    main_logins = {u["username"] for u in users_out}
    seeded |= {name for name in kept if name not in main_logins}
    users_out += _seeded_logins(settings, sorted(seeded), kept)
    _keep_passwords(kept_file, kept)
    return {
        "url": url,
        "data_dir": str(settings.data_dir.resolve()),
        "users": users_out,
        "passwords_file": str(kept_file.resolve()),
    }


def _usernames(settings: Settings) -> set[str]:
    with unit_of_work(SYSTEM, settings) as uow:
        return set(uow.session.scalars(select(User.username)))


def _seeded_logins(
    settings: Settings, usernames: list[str], kept: dict[str, str]
) -> list[dict[str, Any]]:
    """Give the logins enablers' demos created (a city unit's dispatcher, say) a demo password
    kept like the others, so every seeded account can be tried; a later run keeps it."""
    out: list[dict[str, Any]] = []
    with unit_of_work(SYSTEM, settings) as uow:
        for username in usernames:
            user = uow.session.scalars(select(User).where(User.username == username)).first()
            if user is None:
                kept.pop(username, None)
                continue
            password, set_it = _demo_password(user, username, kept)
            if set_it:
                accounts.set_password(uow=uow, actor=SYSTEM, user_id=user.id, password=password)
            if password != CHANGED_BY_USER:
                kept[username] = password
            org = uow.session.get(Organization, user.organization_id)
            token = accounts.issue_token(uow=uow, actor=SYSTEM, user_id=user.id, name="demo")
            out.append(
                {
                    "username": username,
                    "password": password,
                    "organization": org.name if org is not None else "",
                    "role": ",".join(str(r) for r in user.roles),
                    "api_token": token.token,
                }
            )
    return out


def _sample_activity(settings: Settings, org_ids: dict[str, int]) -> None:
    with unit_of_work(SYSTEM, settings) as uow:
        metering.create_tariff(
            uow=uow,
            actor=SYSTEM,
            meter="core.api_calls",
            prices={
                "peak": Decimal("0.0120"),
                "flat": Decimal("0.0080"),
                "valley": Decimal("0.0040"),
            },
            effective_from=date(2024, 1, 1),
            name="API 调用分时价",
        )
        metering.set_pool_default(
            uow=uow, actor=SYSTEM, meter="core.api_calls", granted=Decimal("5000"), sme_only=True
        )
    now = utcnow()
    with unit_of_work(SYSTEM, settings) as uow:
        for key, calls in (("ent1", "12000"), ("ent2", "8000")):
            metering.record_usage(
                uow=uow,
                organization_id=org_ids[key],
                meter="core.api_calls",
                quantity=Decimal(calls),
                unit="call",
                start=now - timedelta(hours=30),
                end=now - timedelta(hours=2),
                source="demo",
            )
    titles = [
        ("ent1", "数据出境自评估材料预审"),
        ("ent1", "算力券申领审核"),
        ("ent2", "App 上架前个人信息保护合规预审"),
        ("ent2", "公共数据授权运营申请"),
    ]
    with unit_of_work(SYSTEM, settings) as uow:
        ids = [
            cases.open_case(
                uow=uow, actor=SYSTEM, kind="core.general", title=t, organization_id=org_ids[k]
            ).id
            for k, t in titles
        ]
        cases.transition(uow=uow, actor=SYSTEM, case_id=ids[1], name="start_review")
        cases.transition(uow=uow, actor=SYSTEM, case_id=ids[2], name="start_review")
        cases.transition(uow=uow, actor=SYSTEM, case_id=ids[2], name="accept")
        cases.transition(uow=uow, actor=SYSTEM, case_id=ids[3], name="start_review")
        cases.transition(
            uow=uow,
            actor=SYSTEM,
            case_id=ids[3],
            name="return",
            comment="请补充数据来源合法性证明材料",
        )
        jobs.enqueue(
            uow=uow, kind="core.selftest", params={"steps": 3}, organization_id=org_ids["ent1"]
        )
    with unit_of_work(SYSTEM, settings) as uow:
        cp = audit.make_checkpoint(uow.session, settings)
        uow.audit(
            "core.audit.checkpoint",
            f"core_audit_checkpoint:{cp.id}",
            {"tree_size": cp.tree_size, "root": cp.root},
        )


def previous_month(settings: Settings) -> str:
    """Return the month before this one in the display zone (``YYYY-MM``)."""
    first = clock.local_now(settings.timezone).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def _closed_month(settings: Settings, org_ids: dict[str, int]) -> None:
    """Give last month a day of API calls and issue its statements, as the month close would.

    A day from 00:00 to 24:00 local crosses the valley, flat and peak windows of the demo
    tariff, so each statement has a line per window, and the SME's carries its free credit.
    """
    month = previous_month(settings)
    lo, _hi = month_bounds(month, settings.timezone)
    start = lo + timedelta(days=9)
    with unit_of_work(SYSTEM, settings) as uow:
        for key, calls in (("ent1", "9000"), ("ent2", "6400")):
            metering.record_usage(
                uow=uow,
                organization_id=org_ids[key],
                meter="core.api_calls",
                quantity=Decimal(calls),
                unit="call",
                start=start,
                end=start + timedelta(days=1),
                source="demo",
            )
    with unit_of_work(SYSTEM, settings) as uow:
        metering.generate_due_statements(uow=uow, actor=SYSTEM, month=month)


def _enabler_demos(settings: Settings, org_ids: dict[str, int]) -> None:
    """Let each installed enabler add its own demo data (``demo:seed(settings, org_ids)``)."""
    import importlib

    for en in registry().ordered():
        if en.core:
            continue
        try:
            mod = importlib.import_module(f"mingyue.enablers.{en.key}.demo")
        except ModuleNotFoundError:
            continue
        seed = getattr(mod, "seed", None)
        if seed is not None:
            seed(settings, org_ids)
