"""Standard-interface mounts and background services that enablers declare (``Enabler.mounts``,
``Enabler.services``): mounted at their exact prefix, authenticated like /api, supervised."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mingyue.core import plugins
from mingyue.core.declaration import Enabler
from mingyue.devcheck.refs import service_problems
from mingyue.web import app as web_app
from mingyue.web import auth as web_auth
from mingyue.web import services as web_services

_PKG = """
import asyncio
from typing import Any
from fastapi import APIRouter, Depends
from mingyue.web.deps import CurrentActor

router = APIRouter()
calls: list[str] = []


@router.get("/things", operation_id="mountdemo-things")
async def things(actor: CurrentActor) -> dict[str, Any]:
    return {"org": actor.organization_id}


@router.get("/public", operation_id="mountdemo-public")
async def public() -> dict[str, Any]:
    return {"public": True}


@router.post("/things", operation_id="mountdemo-make")
async def make(actor: CurrentActor) -> dict[str, Any]:
    return {"made": True}


async def run(stopping: asyncio.Event) -> None:
    calls.append("start")
    await stopping.wait()
    calls.append("stop")


failures = {"n": 0}


async def flaky(stopping: asyncio.Event) -> None:
    failures["n"] += 1
    if failures["n"] < 3:
        raise RuntimeError("broker away")
    calls.append("flaky up")
    await stopping.wait()
"""


@pytest.fixture
def demo_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    pkg = tmp_path / "mountdemo_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "api.py").write_text(_PKG)
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = plugins.Registry()
    for en in plugins.registry().ordered():
        reg.enablers[en.key] = en
    reg.add(
        Enabler(
            key="mountdemo",
            title={"zh": "挂载", "en": "Mount demo"},
            mounts={"/std-iface/v1": "mountdemo_pkg.api:router"},
            services={
                "mountdemo.listener": "mountdemo_pkg.api:run",
                "mountdemo.flaky": "mountdemo_pkg.api:flaky",
            },
        )
    )
    for mod in (web_app, web_auth, web_services):
        monkeypatch.setattr(mod, "registry", lambda: reg)
    monkeypatch.setattr(web_services, "BACKOFF_START_S", 0.01)
    yield sys.modules.get("mountdemo_pkg.api") or __import__("mountdemo_pkg.api").api
    sys.modules.pop("mountdemo_pkg.api", None)
    sys.modules.pop("mountdemo_pkg", None)


def test_a_mount_is_served_at_its_prefix_with_bearer_auth(
    settings: Any, tenants: Any, demo_registry: Any
) -> None:
    app = web_app.create_app(settings, start_workers=False)
    with TestClient(app) as c:
        anonymous = c.get("/std-iface/v1/things")
        assert anonymous.status_code == 401  # a machine interface: no login redirect
        assert anonymous.headers["content-type"].startswith("application/")
        ok = c.get("/std-iface/v1/things", headers=tenants.a.headers())
        assert ok.status_code == 200 and ok.json() == {"org": tenants.a.org.id}
        # a route the spec makes public answers without credentials
        assert c.get("/std-iface/v1/public").json() == {"public": True}
        # its routes are listed with the others (the foreign-tenant route walk covers them)
        assert "/std-iface/v1/things" in {path for path, _, _ in app.state.routes}
        assert "/std-iface/v1/things" in c.get("/openapi.json").json()["paths"]


def test_a_cookie_signed_in_write_to_a_mount_needs_the_csrf_header(
    settings: Any, tenants: Any, demo_registry: Any
) -> None:
    app = web_app.create_app(settings, start_workers=False)
    with TestClient(app) as c:
        r = c.post(
            "/login",
            data={"username": tenants.a.member.username, "password": "password123", "next": "/"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert c.get("/std-iface/v1/things").status_code == 200
        refused = c.post("/std-iface/v1/things")
        assert refused.status_code == 403 and "csrf" in refused.text.lower()


@pytest.mark.parametrize(
    ("prefix", "why"),
    [
        ("/api/ngsi", "platform root"),
        ("/static/x", "platform root"),
        ("ngsi-ld/v1", "must look like"),
        ("/NGSI/v1", "must look like"),
        ("/compute/v1", "platform root"),
    ],
)
def test_a_mount_cannot_take_a_platform_path(prefix: str, why: str) -> None:
    reg = plugins.Registry()
    for en in plugins.registry().ordered():
        reg.enablers[en.key] = en
    with pytest.raises(ValueError, match=why):
        reg.add(Enabler(key="badmount", title={"zh": "坏", "en": "Bad"}, mounts={prefix: "x:y"}))


def test_two_enablers_cannot_mount_overlapping_prefixes() -> None:
    reg = plugins.Registry()
    reg.add(Enabler(key="one", title={"zh": "一", "en": "One"}, mounts={"/std/v1": "x:y"}))
    with pytest.raises(ValueError, match="overlaps"):
        reg.add(Enabler(key="two", title={"zh": "二", "en": "Two"}, mounts={"/std/v1/sub": "x:y"}))


def test_services_run_in_the_web_process_and_a_failing_one_is_restarted(
    settings: Any, demo_registry: Any
) -> None:
    mod = demo_registry
    mod.calls.clear()
    mod.failures["n"] = 0
    app = web_app.create_app(settings, start_workers=False, start_services=True)
    with TestClient(app):
        for _ in range(200):
            if "flaky up" in mod.calls:
                break
            asyncio.run(asyncio.sleep(0.01))
        assert mod.calls[:1] == ["start"] and "flaky up" in mod.calls
        assert mod.failures["n"] == 3  # failed twice, restarted, then up
    assert mod.calls[-1] == "stop" or "stop" in mod.calls  # stopped at shutdown


def test_services_do_not_start_in_apps_without_workers(settings: Any, demo_registry: Any) -> None:
    demo_registry.calls.clear()
    with TestClient(web_app.create_app(settings, start_workers=False)):
        pass
    assert demo_registry.calls == []


def test_dev_check_names_a_service_that_is_not_an_async_run_of_stopping() -> None:
    def sync_run(stopping: asyncio.Event) -> None: ...

    async def wrong(event: asyncio.Event, extra: int) -> None: ...

    async def good(stopping: asyncio.Event) -> None: ...

    assert service_problems(sync_run) == [
        "is not an async function (async def run(stopping: asyncio.Event) -> None)"
    ]
    assert service_problems(wrong) == ["takes (event, extra), expected (stopping)"]
    assert service_problems(good) == []
