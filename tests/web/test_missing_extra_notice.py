"""An installed enabler whose extra is missing is named, never silently absent (issue 11)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mingyue.core import plugins
from mingyue.core.apps import CORE_APPS
from mingyue.core.declaration import Enabler
from mingyue.web import app as web_app


@pytest.fixture
def registry_with_broken_enabler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "brokenextra_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "api.py").write_text("import definitely_not_an_installed_module  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = plugins.Registry()
    reg.enablers = {en.key: en for en in plugins.registry().ordered()}
    broken = Enabler(
        key="brokenextra",
        title={"zh": "缺依赖", "en": "Broken extra"},
        router="brokenextra_pkg.api:router",
        extras=("brokenextra",),
    )
    reg.enablers[broken.key] = broken
    assert CORE_APPS  # the core apps stay mounted
    monkeypatch.setattr(web_app, "registry", lambda: reg)
    yield
    sys.modules.pop("brokenextra_pkg.api", None)


def _login(client: TestClient, username: str) -> None:
    r = client.post(
        "/login",
        data={"username": username, "password": "password123", "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303


def test_the_operator_sees_which_enabler_is_missing_what(
    settings: Any, make_org: Any, make_user: Any, tenants: Any, registry_with_broken_enabler: None
) -> None:
    app = web_app.create_app(settings, start_workers=False)
    assert app.state.unavailable_enablers["brokenextra"] == {
        "module": "definitely_not_an_installed_module",
        "hint": "pip install 'mingyue[brokenextra]'",
    }
    operator = make_user(make_org(kind="operator"), roles=("platform_admin",))
    with TestClient(app) as client:
        _login(client, operator.username)
        page = client.get("/")
        assert "brokenextra" in page.text and "definitely_not_an_installed_module" in page.text
        assert "pip install &#39;mingyue[brokenextra]&#39;" in page.text
    with TestClient(app) as client:  # a tenant is not told about the platform's installation
        _login(client, tenants.a.member.username)
        assert "brokenextra" not in client.get("/").text


def test_a_missing_platform_module_is_a_bug_not_a_missing_extra(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = plugins.Registry()
    reg.enablers = {en.key: en for en in plugins.registry().ordered()}
    reg.enablers["ghost"] = Enabler(
        key="ghost", title={"zh": "幽灵", "en": "Ghost"}, router="mingyue.enablers.ghost.api:router"
    )
    monkeypatch.setattr(web_app, "registry", lambda: reg)
    with pytest.raises(ModuleNotFoundError):
        web_app.create_app(settings, start_workers=False)
