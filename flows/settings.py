"""One settings object for every process, read from EXPORTFLOW_* variables and validated at start-up."""

import ipaddress
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flows.errors import ConfigurationError
from flows.vocabulary import ExportFormat, ExportType

DEFAULT_PDF_MAX_ROWS = 500_000
"""About 8,000 pages and a minute of rendering on two cores (a 250k-row PDF takes ~25 s)."""

GENERATED_SECRETS = ("jwt_secret", "signing_secret", "webhook_secret")


class Settings(BaseSettings):
    """Every knob of exportflow; empty values mean "the embedded default under HOME"."""

    model_config = SettingsConfigDict(env_prefix="EXPORTFLOW_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="development generates missing secrets under HOME; production refuses to start without.",
    )
    home: Path = Field(
        default=Path("./var"),
        description=(
            "Folder holding every embedded default (databases, files, secrets); "
            "an empty folder is a fresh instance."
        ),
    )
    database_url: str = Field(
        default="",
        description="App database (SQLAlchemy URL; postgresql:// uses psycopg 3). Default: HOME/app.db.",
    )
    source_url: str = Field(
        default="",
        description=(
            "Warehouse the exports read: a DuckDB file path or duckdb:///path, or a postgresql:// URL. "
            "Default: HOME/warehouse.duckdb."
        ),
    )
    storage_url: str = Field(
        default="",
        description="Where export files go: a local folder or s3://bucket/prefix. Default: HOME/exports.",
    )
    s3_endpoint_url: str = Field(
        default="",
        description="S3-compatible endpoint for s3:// storage (empty: AWS); credentials: AWS_* variables.",
    )
    staging_dir: Path = Field(
        default=Path(),
        description="Local folder for work files of running exports. Default: HOME/staging.",
    )
    retention_days: int = Field(
        default=7, ge=1, le=3650, description="Days an export file is kept before cleanup expires it."
    )
    download_url_ttl_seconds: int = Field(
        default=300, ge=10, le=3600, description="Lifetime of a signed download URL."
    )
    smtp_host: str = Field(
        default="",
        description="SMTP server for notifications. Empty: mails are written to HOME/outbox instead.",
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        default="none", description="none, starttls (upgrade after connecting) or tls (implicit TLS)."
    )
    smtp_username: str = Field(default="", description="SMTP login; empty for no authentication.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password.")
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, description="SMTP connect/send timeout.")
    format_max_rows: dict[ExportFormat, Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: {ExportFormat.PDF: DEFAULT_PDF_MAX_ROWS},
        description=(
            'Most rows an export of a format may hold, as JSON (e.g. {"pdf": 100000}); a format not '
            "named has no cap. An export over its cap is refused (400 on format), suggesting CSV."
        ),
    )
    email_attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=0,
        description="Attach the file to the email only up to this size; over it the email says so.",
    )
    email_preview_rows: int = Field(
        default=20, ge=0, le=20, description="Rows shown in the email and on the recipient page."
    )
    recipient_link_max_age_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="Longest an emailed recipient link stays valid; it never outlives the file.",
    )
    api_public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the API as recipients reach it; emails link to its download endpoint.",
    )
    mail_from: str = Field(
        default="exportflow@localhost", description="Sender address of notification emails."
    )
    jwt_secret: SecretStr = Field(
        default=SecretStr(""),
        description="HS256 key of JWTs; generated under HOME/secrets in development, required in production.",
    )
    jwt_algorithm: Literal["HS256", "RS256"] = Field(
        default="HS256", description="The only algorithm accepted for bearer tokens."
    )
    jwt_public_key: str = Field(
        default="",
        description="PEM public key verifying RS256 tokens (required when jwt_algorithm is RS256).",
    )
    jwt_audience: str = Field(default="exportflow", description="Required `aud` claim of bearer tokens.")
    jwt_issuer: str = Field(default="exportflow", description="Required `iss` claim of bearer tokens.")
    access_token_ttl_minutes: int = Field(
        default=60, ge=1, le=1440, description="Lifetime of bearer tokens exportflow issues itself."
    )
    signing_secret: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Signs download URLs; generated under HOME/secrets in development, required in production."
        ),
    )
    rate_limit_requests: int = Field(
        default=100, ge=1, description="Requests one user may make per rate-limit window."
    )
    rate_limit_window_seconds: int = Field(
        default=900, ge=1, description="Length of the rate-limit window (the seed's 15 minutes)."
    )
    rate_limit_create_requests: int = Field(
        default=20, ge=1, description="Exports one user may create or execute per rate-limit window."
    )
    status_rate_limit_requests: int = Field(
        default=3600,
        ge=1,
        description=(
            "Status reads (and SSE stream opens) one user may make per status window, apart from the "
            "general budget: the default lets a page poll 60 exports once a second."
        ),
    )
    status_rate_limit_window_seconds: int = Field(
        default=60, ge=1, description="Length of the status-read rate-limit window."
    )
    download_rate_limit_requests: int = Field(
        default=120, ge=1, description="Downloads one user or recipient link may make per download window."
    )
    download_rate_limit_window_seconds: int = Field(
        default=900, ge=1, description="Length of the download rate-limit window."
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Signs webhook requests (Standard Webhooks, HMAC-SHA256; a whsec_<base64> key or any text); "
            "generated under HOME/secrets in development, required in production."
        ),
    )
    webhook_allow_private_targets: bool = Field(
        default=False,
        description="Allow webhook URLs on loopback, private and link-local addresses.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=120, description="Timeout of one webhook POST."
    )
    webhook_max_attempts: int = Field(
        default=5, ge=1, le=10, description="Attempts per webhook message (5xx and timeouts retried)."
    )
    redis_url: str = Field(
        default="",
        description="Redis for rate limits shared by API replicas (redis://host:6379/0). Empty: in-process.",
    )
    prefect_api_url: str = Field(
        default="",
        description=(
            "Prefect server API (http://host:4200/api). Empty: Prefect's own PREFECT_API_URL or profile, "
            "else a temporary local server."
        ),
    )
    export_deployment: str = Field(
        default="export/export", description="The Prefect deployment (flow/deployment) that runs exports."
    )
    heartbeat_lease_seconds: int = Field(
        default=60,
        ge=10,
        description="A processing export whose heartbeat is older than this is taken for dead (reconciler).",
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Runs one export may get (the first and the reconciler's retries).",
    )
    user_max_running_exports: int = Field(
        default=4,
        ge=1,
        description=(
            "Exports one user may have under way at once (started, or given a slot to start); the "
            "others wait in pending and start in the order they were made, as slots free up."
        ),
    )
    max_running_exports: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Export flow runs running at once across all workers: the exportflow work pool's "
            "concurrency limit in Prefect, set by `exportflow deploy`. Empty: no cap."
        ),
    )
    reconcile_interval_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often the reconciler looks for stuck, dead or undispatched exports.",
    )
    run_background_services: bool = Field(
        default=True,
        description=(
            "Run the background service (the reconciler and the schedule sync, every reconcile "
            "interval) in a thread of `exportflow api`; off where `exportflow reconcile --loop` runs it."
        ),
    )
    cleanup_cron: str = Field(
        default="0 * * * *",
        description="When the export-cleanup deployment runs (cron, UTC): expiry and leftovers.",
    )
    work_file_max_age_hours: float = Field(
        default=24.0,
        gt=0,
        description="Upload temporaries and staged work files older than this are removed by cleanup.",
    )
    prefect_port: int = Field(
        default=4200,
        ge=1,
        le=65535,
        description="Port of the Prefect server `exportflow up` starts when no Prefect API URL is set.",
    )
    worker_limit: int = Field(
        default=4, ge=1, description="Flow runs one `exportflow worker` runs at once (its concurrency cap)."
    )
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often `exportflow worker` asks Prefect for runs to start."
    )
    api_host: str = Field(default="127.0.0.1", description="Address `exportflow api` listens on.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port `exportflow api` listens on.")
    trusted_proxies: list[str] = Field(
        default=[],
        description=(
            'Addresses or networks (JSON list, e.g. ["10.0.0.0/8"]) of reverse proxies whose '
            "X-Forwarded-For is believed; empty: the peer address is the client."
        ),
    )
    sensitive_export_types: list[ExportType] = Field(
        default=[ExportType.PAYROLL, ExportType.STAFF],
        description="Export types only super_admin and admin may export (JSON list).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of exportflow's own loggers."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            ipaddress.ip_network(value, strict=False)  # ValueError names the bad entry
        return values

    @field_validator("max_running_exports", mode="before")
    @classmethod
    def _empty_is_no_cap(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> "Settings":
        self.home = self.home.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'app.db'}"
        if not self.source_url:
            self.source_url = str(self.home / "warehouse.duckdb")
        if not self.storage_url:
            self.storage_url = str(self.home / "exports")
        if self.staging_dir == Path():
            self.staging_dir = self.home / "staging"
        if self.jwt_algorithm == "RS256" and not self.jwt_public_key:
            raise ValueError("EXPORTFLOW_JWT_PUBLIC_KEY is required when EXPORTFLOW_JWT_ALGORITHM=RS256")
        for name in GENERATED_SECRETS:
            if not getattr(self, name).get_secret_value():
                setattr(self, name, SecretStr(self._development_secret(name)))
        return self

    def _development_secret(self, name: str) -> str:
        """Read or create a secret kept under HOME; in production a missing secret is fatal."""
        if self.environment == "production":
            raise ConfigurationError(
                f"EXPORTFLOW_{name.upper()} must be set when EXPORTFLOW_ENVIRONMENT is production"
            )
        path = self.home / "secrets" / name
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(value)
        return value

    @property
    def outbox_dir(self) -> Path:
        """Where notification emails go when no SMTP server is configured."""
        return self.home / "outbox"

    def masked(self) -> dict[str, Any]:
        """The effective settings as plain values, with secrets and URL passwords hidden."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                shown[name] = "********" if value.get_secret_value() else ""
            elif isinstance(value, str) and "://" in value:
                shown[name] = mask_url_password(value)
            elif isinstance(value, Path):
                shown[name] = str(value)
            else:
                shown[name] = value
        return shown


def mask_url_password(url: str) -> str:
    """postgresql://user:secret@host/db → postgresql://user:********@host/db."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":********@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; after changing the environment call `get_settings.cache_clear()`."""
    try:
        return Settings()
    except ConfigurationError:
        raise
    except ValueError as error:
        raise ConfigurationError(str(error)) from error
