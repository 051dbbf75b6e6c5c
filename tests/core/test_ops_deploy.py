"""`mingyue check --deploy`: what a production deployment is refused or warned about."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mingyue.core import config
from mingyue.core.config import Settings
from mingyue.core.ledger import keys
from mingyue.core.ops.deploy import deploy_problems

GOOD_SECRET = "q8R2v-7KfTz1LmN0pXw4YbC6sDe9GhJk3UaZoVi5"

SQLITE_DEPLOYMENT = (
    "exercises a SQLite deployment (file database, not stamped); on PostgreSQL the test database "
    "is shared and stamped, and its checks are covered by the PostgreSQL backup round trip"
)


def _prod(tmp_path: Path, **kw: object) -> Settings:
    base: dict[str, object] = {
        "env": "prod",
        "data_dir": tmp_path,
        "secret_key": GOOD_SECRET,
        "database_url": "postgresql://u@db/mingyue",
        "redis_url": "redis://redis:6379/0",
        "base_url": "https://pi.example.cn",
        "cookie_secure": True,
    }
    base.update(kw)
    s = Settings(**base)  # type: ignore[arg-type]
    keys.signing_key(s)  # created 0600
    return s


def _codes(s: Settings) -> dict[str, str]:
    return {p.code: p.level for p in deploy_problems(s)}


def test_a_sound_production_deployment_passes(tmp_path: Path) -> None:
    assert _codes(_prod(tmp_path)) == {}


@pytest.mark.parametrize(
    ("overrides", "code", "level"),
    [
        ({"secret_key": "change-me"}, "deploy.secret_key", "error"),
        ({"secret_key": "short-but-not-a-placeholder"}, "deploy.secret_key", "error"),
        ({"secret_key": "a" * 40}, "deploy.secret_key", "error"),
        ({"debug": True}, "deploy.debug", "error"),
        ({"cookie_secure": False}, "deploy.cookie_secure", "error"),
        ({"base_url": "http://pi.example.cn"}, "deploy.https", "warning"),
        ({"database_url": None, "web_workers": 4}, "deploy.sqlite_workers", "error"),
        ({"database_url": None}, "deploy.sqlite", "warning"),
        ({"redis_url": None, "web_workers": 4}, "deploy.redis_workers", "warning"),
        ({"env": "dev"}, "deploy.env", "error"),
    ],
)
def test_each_problem_is_named(tmp_path: Path, overrides: dict, code: str, level: str) -> None:
    assert _codes(_prod(tmp_path, **overrides)).get(code) == level


def test_several_workers_need_the_multiprocess_metrics_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert _codes(_prod(tmp_path, web_workers=4)) == {"deploy.metrics_multiproc": "warning"}
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert _codes(_prod(tmp_path, web_workers=4)) == {}


def test_a_signing_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    s = _prod(tmp_path)
    os.chmod(keys.key_path(s), 0o644)
    problems = [p for p in deploy_problems(s) if p.code == "deploy.signing_key_mode"]
    assert problems and problems[0].level == "error" and "0644" in problems[0].message


@pytest.mark.skipif(
    os.environ.get("MINGYUE_TEST_DB") == "pg",
    reason=SQLITE_DEPLOYMENT,
)
def test_check_deploy_cli_one_line_per_problem(cli, settings: Settings, monkeypatch) -> None:
    from alembic import command

    from mingyue.core import migrate

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    command.stamp(migrate.alembic_config(settings), "heads")
    s = config.configure(
        env="prod",
        secret_key="change-me",
        debug=True,
        web_workers=3,
        base_url="https://pi.example.cn",
    )
    keys.signing_key(s)
    res = cli("check", "--deploy")
    assert res.exit_code == 1
    lines = res.stdout.strip().splitlines()
    codes = [line.split(": ")[1] for line in lines]
    assert codes[:5] == [
        "deploy.secret_key",
        "deploy.debug",
        "deploy.cookie_secure",
        "deploy.sqlite_workers",
        # errors first, then warnings
        "deploy.redis_workers",
    ]
    assert all(line.startswith(("error: ", "warning: ")) for line in lines)
    assert "change-me" not in res.stdout + res.stderr  # a secret is never printed
    # without --deploy only readiness counts: this deployment is ready
    res = cli("check")
    assert res.exit_code == 0, res.stdout


@pytest.mark.skipif(
    os.environ.get("MINGYUE_TEST_DB") == "pg",
    reason=SQLITE_DEPLOYMENT,
)
def test_check_names_a_failed_readiness_check(cli, settings: Settings) -> None:
    res = cli("check")
    assert res.exit_code == 1
    assert "error: ready.migrations: database not migrated" in res.stdout
    assert "error: ready.signing_key: missing" in res.stdout
