"""Settings: one typed object read from MINGYUE_* environment variables."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SESSION_SECRET_FILE = "session_secret"  # noqa: S105 - a file name, not a secret


class Settings(BaseSettings):
    """All options of the platform; every option is documented in docs/settings.md."""

    model_config = SettingsConfigDict(
        env_prefix="MINGYUE_", env_nested_delimiter="__", extra="ignore"
    )

    env: Literal["dev", "test", "prod"] = Field("dev", description="Deployment environment.")
    data_dir: Path = Field(
        Path("./data"),
        description="Folder holding the SQLite database, keys, uploads and enabler data.",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; SQLite in the data dir when unset."
    )
    redis_url: str | None = Field(
        None, description="Redis URL; when set, jobs run on `mingyue worker` processes."
    )
    secret_key: str = Field(
        "",
        description=(
            "Key for session cookies, CSRF tokens and sealed secrets; required in prod. "
            "Unset in dev/test: a random key kept in data_dir/keys/session_secret (mode 0600)."
        ),
    )
    signing_key_file: Path | None = Field(
        None,
        description=(
            "Ed25519 private key (PEM) for the ledger and credentials; "
            "data_dir/keys/platform_ed25519.pem when unset."
        ),
    )
    base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public URL of the platform (credential issuer id, links).",
    )
    max_upload_bytes: int = Field(
        200 * 1024 * 1024, description="Largest accepted upload in bytes."
    )
    storage_quota_bytes: int = Field(
        10 * 1024 * 1024 * 1024,
        description=(
            "Bytes of stored files one organization may hold (0 = no quota); "
            "an upload past it answers 413."
        ),
    )
    archive_max_ratio: int = Field(
        100, description="Largest accepted compression ratio of one archive member."
    )
    archive_max_total_bytes: int = Field(
        1024 * 1024 * 1024, description="Largest accepted total uncompressed size of an archive."
    )
    archive_max_entries: int = Field(
        20000, description="Largest accepted number of members in an archive."
    )
    login_max_failures: int = Field(
        5, description="Failed logins before a user's next attempts are slowed."
    )
    embedded_workers: int = Field(
        2, description="Job threads inside `mingyue serve` when no Redis is configured (0 = none)."
    )
    job_heartbeat_timeout_s: int = Field(
        30,
        description="A running job whose worker sent no heartbeat for this long is retried or failed.",
    )
    job_queue_prefix: str | None = Field(
        None,
        description=(
            "Redis key prefix of the job queue; derived from the database URL when unset, "
            "so deployments sharing one Redis never take each other's jobs."
        ),
    )
    job_max_attempts: int = Field(
        2, description="Attempts of a job before it is marked failed after worker loss."
    )
    job_max_running_per_org: int | None = Field(
        None,
        ge=0,
        description=(
            "Jobs of one organization that may run at once on the shared workers (0 = no limit); "
            "unset: half of MINGYUE_EMBEDDED_WORKERS, at least 1."
        ),
    )
    scheduler_embedded: bool = Field(
        True,
        description=(
            "`mingyue serve` also runs the scheduler of periodic work (several are safe: each "
            "due time fires once); set false when `mingyue scheduler` runs on its own."
        ),
    )
    scheduler_misfire_grace_s: int = Field(
        60,
        ge=0,
        description=(
            "Seconds a due time may fire late before it counts as missed (a schedule with "
            'misfire "skip" then drops it).'
        ),
    )
    scheduler_schema: str = Field(
        "mingyue_scheduler",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description=(
            "PostgreSQL schema of APScheduler's own tables (with SQLite they live in "
            "scheduler.sqlite3 in the data dir)."
        ),
    )
    ledger_witness_url: str | None = Field(
        None,
        description=(
            "Witness that receives every signed ledger head (POST, JSON); https, or http to "
            "loopback only; off when unset. A failure is logged and never blocks."
        ),
    )
    default_locale: Literal["zh_CN", "en"] = Field(
        "zh_CN", description="Language of the console and reports by default."
    )
    timezone: str = Field(
        "Asia/Shanghai", description="Time zone for display, tariffs and billing periods."
    )
    currency: str = Field("CNY", description="Currency of prices and statements.")
    cookie_secure: bool = Field(
        False, description="Send the session cookie only over HTTPS (set true behind TLS)."
    )
    debug: bool = Field(
        False,
        description=(
            "Debug mode: tracebacks in 500 responses and DEBUG logs; never in prod "
            "(`mingyue check --deploy` refuses it)."
        ),
    )
    web_workers: int = Field(
        1,
        ge=1,
        description=(
            "Web worker processes of `mingyue serve` when --workers is not given "
            "(also what `mingyue check --deploy` judges)."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description=(
            "Log lines as text or as one JSON object per line; each carries the request id."
        ),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Level of the platform's own logs (the access log is INFO)."
    )
    access_log: bool = Field(
        True, description="Log one line per HTTP request (method, route, status, duration)."
    )
    metrics_token: str | None = Field(
        None,
        min_length=16,
        description=(
            "Bearer token a scraper sends to /metrics; when unset /metrics answers only "
            "loopback clients that came through no proxy."
        ),
    )
    appcheck: dict[str, Any] = Field(
        default_factory=dict, description="Options of the appcheck enabler (MINGYUE_APPCHECK__*)."
    )
    datasandbox: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the datasandbox enabler (MINGYUE_DATASANDBOX__*).",
    )
    crossborder: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the crossborder enabler (MINGYUE_CROSSBORDER__*).",
    )
    compute: dict[str, Any] = Field(
        default_factory=dict, description="Options of the compute enabler (MINGYUE_COMPUTE__*)."
    )
    satcert: dict[str, Any] = Field(
        default_factory=dict, description="Options of the satcert enabler (MINGYUE_SATCERT__*)."
    )
    citygov: dict[str, Any] = Field(
        default_factory=dict, description="Options of the citygov enabler (MINGYUE_CITYGOV__*)."
    )
    digitalasset: dict[str, Any] = Field(
        default_factory=dict,
        description="Options of the digitalasset enabler (MINGYUE_DIGITALASSET__*).",
    )
    policy: dict[str, Any] = Field(
        default_factory=dict, description="Options of the policy enabler (MINGYUE_POLICY__*)."
    )
    modeleval: dict[str, Any] = Field(
        default_factory=dict, description="Options of the modeleval enabler (MINGYUE_MODELEVAL__*)."
    )

    _secret_generated: bool = PrivateAttr(False)

    @model_validator(mode="after")
    def _secret_or_generated(self) -> Settings:
        # A published constant signed every dev session, so a forged cookie logged in as anyone
        # (issue 12, item 8): without a configured key, dev/test use a random one kept on disk.
        if self.secret_key:
            return self
        if self.env == "prod":
            raise ValueError("MINGYUE_SECRET_KEY must be set in prod")
        self.secret_key = _load_or_create_secret(self.data_dir / "keys" / SESSION_SECRET_FILE)
        self._secret_generated = True
        return self

    def dev_defaults(self) -> list[str]:
        """Return the development defaults in force (none may face a network: ``serve``)."""
        found = []
        if self.env != "prod":
            found.append(f"MINGYUE_ENV={self.env}")
        if self._secret_generated:
            found.append("MINGYUE_SECRET_KEY unset")
        return found

    @property
    def sqlalchemy_url(self) -> str:
        """Return the database URL: the configured one, or SQLite in the data dir."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'mingyue.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        """Tell whether the metadata store is SQLite."""
        return self.sqlalchemy_url.startswith("sqlite")

    def enabler(self, key: str) -> dict[str, Any]:
        """Return the raw options of one enabler (validated by the enabler's own model)."""
        value = getattr(self, key, None)
        return dict(value) if isinstance(value, dict) else {}


_override: dict[str, Any] = {}


def configure(**overrides: Any) -> Settings:
    """Override settings for this process (the CLI's --data-dir); return the new settings."""
    _override.update({k: v for k, v in overrides.items() if v is not None})
    get_settings.cache_clear()
    return get_settings()


def reset() -> None:
    """Forget overrides (tests)."""
    _override.clear()
    get_settings.cache_clear()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings."""
    return Settings(**_override)


def _load_or_create_secret(path: Path) -> str:
    """Return the secret kept in ``path``, creating it (mode 0600) on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        # Written aside, then linked into place: a concurrent start never reads a half file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_urlsafe(48))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: use its secret
        finally:
            tmp.unlink()
    value = path.read_text(encoding="ascii").strip()
    if len(value) < 32:
        raise ValueError(f"{path} holds no usable secret (delete it to generate a new one)")
    return value


def ensure_data_dir(settings: Settings) -> Path:
    """Create the data dir (and its sub-folders) if missing; return it."""
    root = settings.data_dir.resolve()
    for sub in ("", "keys", "files", "enablers"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "keys", 0o700)
    return root
