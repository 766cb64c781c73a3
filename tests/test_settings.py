"""Settings: embedded defaults under HOME, secrets kept in development and required in production."""

import stat
from pathlib import Path

import pytest

from flows.errors import ConfigurationError
from flows.settings import Settings, get_settings, mask_url_password


def test_every_embedded_default_lives_under_home(fresh_home: Path) -> None:
    settings = Settings()
    assert settings.home == fresh_home.resolve()
    assert settings.database_url == f"sqlite:///{fresh_home.resolve() / 'app.db'}"
    assert settings.source_url == str(fresh_home.resolve() / "warehouse.duckdb")
    assert settings.storage_url == str(fresh_home.resolve() / "exports")
    assert settings.staging_dir == fresh_home.resolve() / "staging"
    assert settings.outbox_dir == fresh_home.resolve() / "outbox"
    assert settings.retention_days == 7


def test_every_field_is_described() -> None:
    undescribed = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undescribed == []


@pytest.mark.parametrize(("value", "cap"), [("", None), ("3", 3)])
def test_an_empty_global_cap_is_no_cap(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch, value: str, cap: int | None
) -> None:
    monkeypatch.setenv("EXPORTFLOW_MAX_RUNNING_EXPORTS", value)
    assert Settings().max_running_exports == cap


def test_development_secrets_are_generated_once_and_kept_private(fresh_home: Path) -> None:
    first = Settings()
    second = Settings()
    assert len(first.jwt_secret.get_secret_value()) >= 48
    assert first.jwt_secret == second.jwt_secret
    assert first.signing_secret == second.signing_secret
    assert first.jwt_secret != first.signing_secret
    assert first.webhook_secret == second.webhook_secret != first.signing_secret
    for name in ("jwt_secret", "signing_secret", "webhook_secret"):
        mode = stat.S_IMODE((fresh_home / "secrets" / name).stat().st_mode)
        assert mode == 0o600


def test_production_refuses_to_start_without_secrets(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTFLOW_ENVIRONMENT", "production")
    monkeypatch.setenv("EXPORTFLOW_JWT_SECRET", "a-real-secret")
    with pytest.raises(ConfigurationError, match="EXPORTFLOW_SIGNING_SECRET"):
        Settings()
    assert not (fresh_home / "secrets").exists()


def test_production_with_secrets_starts(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTFLOW_ENVIRONMENT", "production")
    monkeypatch.setenv("EXPORTFLOW_JWT_SECRET", "jwt-from-vault")
    monkeypatch.setenv("EXPORTFLOW_SIGNING_SECRET", "signing-from-vault")
    monkeypatch.setenv("EXPORTFLOW_WEBHOOK_SECRET", "webhook-from-vault")
    settings = Settings()
    assert settings.jwt_secret.get_secret_value() == "jwt-from-vault"


def test_rs256_needs_a_public_key(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTFLOW_JWT_ALGORITHM", "RS256")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="EXPORTFLOW_JWT_PUBLIC_KEY"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_invalid_values_are_refused(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTFLOW_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="retention_days"):
        Settings()


def test_masked_hides_secrets_and_url_passwords(fresh_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTFLOW_DATABASE_URL", "postgresql://app:hunter2@db.internal:5432/exportflow")
    monkeypatch.setenv("EXPORTFLOW_SMTP_PASSWORD", "smtp-pass")
    settings = Settings()
    shown = settings.masked()
    rendered = repr(shown)
    for secret in ("hunter2", "smtp-pass", settings.jwt_secret.get_secret_value()):
        assert secret not in rendered
    assert shown["database_url"] == "postgresql://app:********@db.internal:5432/exportflow"
    assert shown["jwt_secret"] == "********"


def test_mask_url_password_leaves_urls_without_password_alone() -> None:
    assert mask_url_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert mask_url_password("s3://bucket/prefix") == "s3://bucket/prefix"


def test_readme_lists_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`EXPORTFLOW_{name.upper()}`" not in readme]
    assert missing == []
