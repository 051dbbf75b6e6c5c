"""Settings: documented, typed, and a default secret is refused outside dev."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mingyue.core.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_option_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [n for n in Settings.model_fields if f"`MINGYUE_{n.upper()}`" not in text]
    assert not missing, f"undocumented settings: {missing}"
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"


def test_default_secret_refused_in_prod(tmp_path) -> None:
    with pytest.raises(ValidationError):
        Settings(env="prod", data_dir=tmp_path)
    Settings(env="prod", data_dir=tmp_path, secret_key="s3cret-value-for-prod")


def test_database_url_selects_postgres(tmp_path, monkeypatch) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.is_sqlite and s.sqlalchemy_url.endswith("mingyue.sqlite3")
    s = Settings(data_dir=tmp_path, database_url="postgresql://u@h/db")
    assert s.sqlalchemy_url == "postgresql+psycopg://u@h/db" and not s.is_sqlite
    monkeypatch.setenv("MINGYUE_COMPUTE__FREE_CPU_HOURS", "20")
    assert Settings(data_dir=tmp_path).enabler("compute") == {"free_cpu_hours": "20"}


def test_every_enabler_option_is_documented() -> None:
    from mingyue.core.plugins import registry

    text = DOC.read_text(encoding="utf-8")
    models = [(e.key, e.resolve(e.settings)) for e in registry().ordered() if e.settings]
    assert models, "no enabler declares a settings model"
    for key, model in models:
        assert key in Settings.model_fields, f"Settings has no nested group for {key}"
        for name, field in model.model_fields.items():
            var = f"`MINGYUE_{key.upper()}__{name.upper()}`"
            assert var in text, f"undocumented enabler option: {var}"
            assert field.description, f"{key}.{name} has no description"
