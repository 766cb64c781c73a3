"""`exportflow users`, `tokens` and `api`: accounts and credentials that work on the API, served."""

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from deployments.cli import app
from deployments.cli_support import EXIT_USAGE
from flows.settings import get_settings
from tests.network import free_port

runner = CliRunner()
EXPORTS = "/api/v1/exports"


def _email() -> str:
    return f"cli-{uuid.uuid4().hex[:10]}@example.com"


def _create_user(email: str, role: str = "manager") -> None:
    result = runner.invoke(app, ["users", "create", "--email", email, "--role", role])
    assert result.exit_code == 0, result.output


@pytest.fixture
def api_client(exportflow_env: Path) -> Iterator[TestClient]:
    """The API on the same settings the CLI reads."""
    with TestClient(create_app(get_settings()), raise_server_exceptions=False) as client:
        yield client


def test_users_create_and_list(exportflow_env: Path) -> None:
    email = _email()
    result = runner.invoke(
        app, ["users", "create", "--email", email.upper(), "--role", "admin", "--first-name", "Ada"]
    )
    assert result.exit_code == 0, result.output
    # The session's database holds many users with long addresses: a wide table does not wrap them.
    listed = runner.invoke(app, ["users", "list"], env={"COLUMNS": "400"})
    assert listed.exit_code == 0, listed.output
    line = next(line for line in listed.stdout.splitlines() if email.split("@")[0] in line.lower())
    assert "admin" in line
    assert "Ada" in line


@pytest.mark.parametrize("domain", ["corp.local", "localhost", "svc.internal", "mailhost", "qa.test"])
def test_users_on_internal_mail_domains_are_created(exportflow_env: Path, domain: str) -> None:
    email = f"ana-{uuid.uuid4().hex[:8]}@{domain}"
    _create_user(email)
    listed = runner.invoke(app, ["users", "list"], env={"COLUMNS": "400"})
    assert email in listed.stdout


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        (["--email", "not-an-address", "--role", "manager"], "email"),
        (["--email", "ana@corp..local", "--role", "manager"], "email"),
        (["--email", "ana@nowhere.invalid", "--role", "manager"], "email"),
        (["--email", "Ana <ana@corp.local>", "--role", "manager"], "email"),
        (["--email", "x@example.com", "--role", "owner"], "--role"),
    ],
)
def test_users_create_refuses_bad_input(exportflow_env: Path, arguments: list[str], field: str) -> None:
    result = runner.invoke(app, ["users", "create", *arguments])
    assert result.exit_code == EXIT_USAGE, result.output
    assert field in result.output


def test_a_duplicate_user_is_a_usage_error_naming_email(exportflow_env: Path) -> None:
    email = _email()
    _create_user(email)
    result = runner.invoke(app, ["users", "create", "--email", email, "--role", "admin"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "email:" in result.stderr
    assert "already exists" in result.stderr


def test_commands_refuse_an_unmigrated_database(fresh_home: Path) -> None:
    result = runner.invoke(app, ["users", "create", "--email", _email(), "--role", "manager"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "exportflow db upgrade" in result.stderr


def test_a_token_is_printed_once_alone_and_works_until_revoked(api_client: TestClient) -> None:
    email = _email()
    _create_user(email)
    result = runner.invoke(app, ["tokens", "create", "--email", email, "--name", "ci"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("ef_")
    assert result.stdout == token + "\n"
    assert token not in result.stderr
    assert token[:11] in result.stderr

    headers = {"Authorization": f"Bearer {token}"}
    answer = api_client.get(EXPORTS, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True

    revoked = runner.invoke(app, ["tokens", "revoke", token[:11]])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked 1" in revoked.stdout
    refused = api_client.get(EXPORTS, headers=headers)
    assert refused.status_code == 401
    assert refused.json()["success"] is False

    again = runner.invoke(app, ["tokens", "revoke", token[:11]])
    assert again.exit_code == EXIT_USAGE
    assert "prefix:" in again.stderr


def test_a_token_for_an_unknown_user_is_a_usage_error(exportflow_env: Path) -> None:
    result = runner.invoke(app, ["tokens", "create", "--email", _email()])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "email:" in result.stderr
    assert result.stdout == ""


def test_a_jwt_authenticates_its_user(api_client: TestClient) -> None:
    email = _email()
    _create_user(email)
    result = runner.invoke(app, ["tokens", "jwt", "--email", email, "--minutes", "5"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.count(".") == 2
    answer = api_client.get(EXPORTS, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    tampered = api_client.get(EXPORTS, headers={"Authorization": f"Bearer {token[:-2]}xx"})
    assert tampered.status_code == 401


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_api_serves_and_logs_paths_without_query_strings(exportflow_env: Path) -> None:
    port = free_port()
    command = [sys.executable, "-c", "from deployments.cli import app; app()", "api", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    secret = "s3cr3t-" + uuid.uuid4().hex
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"{base}/health").status_code == 200
                break
            except httpx.TransportError:
                assert server.poll() is None, "exportflow api exited"
                assert time.monotonic() < deadline, "exportflow api did not start"
                time.sleep(0.1)
        answer = httpx.get(f"{base}{EXPORTS}/{uuid.uuid4()}/file", params={"token": secret})
        assert 400 <= answer.status_code < 500  # refused: the point is what the access log shows
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert secret not in output
    logged = [line for line in output.splitlines() if "/file" in line]
    assert len(logged) == 1, output
    assert f"GET {EXPORTS}/" in logged[0]
    assert "/file HTTP/1.1" in logged[0]
