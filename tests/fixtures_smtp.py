"""Real SMTP servers on loopback (aiosmtpd), recording what they receive, for one test session.

Use from a test module with `pytest_plugins = ["tests.fixtures_smtp"]`, then ask for:
- `smtp_server`: a plain SMTP server (no TLS, no login);
- `smtp_starttls_server`: STARTTLS required, login required (SMTP_USERNAME / SMTP_PASSWORD);
- `smtp_tls_server`: implicit TLS, login accepted (and recorded) but not required;
- `smtp_client_tls`: an ssl.SSLContext trusting the servers' self-signed certificate;
- `unused_port`: a loopback port nobody listens on.
Each is an `SmtpServer`, reset for every test: `received` lists the messages it accepted,
`handler.data_reply` / `handler.rcpt_replies` make it answer DATA or RCPT with an error instead,
and `settings(base)` points Settings at it.
Import names from this module only under `TYPE_CHECKING`: pytest must import it first, as a plugin.
"""

import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from flows.settings import Settings
from tests.network import free_port
from tests.smtp_recording import Received, RecordingHandler

LOOPBACK = ipaddress.ip_address("127.0.0.1")
SMTP_USERNAME = "exportflow"
SMTP_PASSWORD = "smtp-password-that-must-never-be-logged"


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    handler: RecordingHandler

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def settings(self, base: Settings, **changes: Any) -> Settings:
        """`base` sending through this server (with its login when it has TLS), plus `changes`."""
        update: dict[str, Any] = {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": self.security,
        }
        if self.security != "none":
            update |= {"smtp_username": SMTP_USERNAME, "smtp_password": SecretStr(SMTP_PASSWORD)}
        return base.model_copy(update=update | changes)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused."""
    return free_port()


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    expected = LoginPassword(SMTP_USERNAME.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=auth_data == expected, handled=False)


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA), and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exportflow test SMTP")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return certificate_path, key_path


@pytest.fixture(scope="session")
def _smtp_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _self_signed_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture(scope="session")
def smtp_client_tls(_smtp_certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(_smtp_certificate[0]))


def _start(
    security: Literal["none", "starttls", "tls"], certificate: tuple[Path, Path]
) -> tuple[Controller, SmtpServer]:
    handler = RecordingHandler()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(*certificate)
    options: dict[str, Any] = {
        "none": {},
        "starttls": {"tls_context": server_tls, "require_starttls": True, "auth_required": True},
        "tls": {"ssl_context": server_tls, "auth_require_tls": False},
    }[security]
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="smtp.exportflow.test",
        authenticator=_authenticate,
        **options,
    )
    controller.start()
    return controller, SmtpServer("127.0.0.1", port, security, handler)


@pytest.fixture(scope="session")
def _smtp_servers(_smtp_certificate: tuple[Path, Path]) -> Iterator[dict[str, SmtpServer]]:
    started = {security: _start(security, _smtp_certificate) for security in ("none", "starttls", "tls")}
    yield {security: server for security, (_, server) in started.items()}
    for controller, _ in started.values():
        controller.stop()


def _reset(server: SmtpServer) -> Iterator[SmtpServer]:
    server.handler.reset()
    yield server
    server.handler.reset()


@pytest.fixture
def smtp_server(_smtp_servers: dict[str, SmtpServer]) -> Iterator[SmtpServer]:
    yield from _reset(_smtp_servers["none"])


@pytest.fixture
def smtp_starttls_server(_smtp_servers: dict[str, SmtpServer]) -> Iterator[SmtpServer]:
    yield from _reset(_smtp_servers["starttls"])


@pytest.fixture
def smtp_tls_server(_smtp_servers: dict[str, SmtpServer]) -> Iterator[SmtpServer]:
    yield from _reset(_smtp_servers["tls"])
