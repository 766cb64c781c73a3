"""A real S3-compatible server on loopback (moto in server mode), and a TCP proxy that makes it fail.

Use from a test module with `pytest_plugins = ["tests.fixtures_s3"]`, then ask for:
- `s3_endpoint`: the moto server's URL (one server per test session);
- `s3_settings`: Settings whose storage_url is `s3://<a new bucket>/files` on that server (dummy
  AWS credentials are set in the environment for the rest of the session; `aws_credentials`
  returns them);
- `s3_proxy`: a `FaultProxy` in front of the server (cuts connections mid-request, or answers S3
  errors itself); `s3_proxy.reach(s3_settings)` reaches the same bucket through it.
Import names from this module only under `TYPE_CHECKING`: pytest must import it first, as a plugin.
"""

import uuid
from collections.abc import Iterator

import pytest
import s3fs
from moto.server import ThreadedMotoServer

from flows.settings import Settings
from tests.fault_proxy import FaultProxy


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def aws_credentials() -> Iterator[dict[str, str]]:
    """Dummy credentials and region for the session (s3fs clients are cached across tests);
    no profile, config file or instance metadata is consulted."""
    variables = {
        "AWS_ACCESS_KEY_ID": "AKIADUMMYKEYFORTESTS",
        "AWS_SECRET_ACCESS_KEY": "dummy-secret-that-must-never-be-logged",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            patch.delenv(name, raising=False)
        yield variables


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str, aws_credentials: dict[str, str]) -> s3fs.S3FileSystem:
    """An s3fs client of the server for test set-up (creating buckets)."""
    return s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)


@pytest.fixture
def s3_bucket(s3_admin: s3fs.S3FileSystem) -> str:
    """A new, empty bucket on the session's server."""
    name = f"exports-{uuid.uuid4().hex[:12]}"
    s3_admin.mkdir(name)
    return name


@pytest.fixture
def s3_settings(s3_endpoint: str, s3_bucket: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings storing under s3://<a new bucket>/files on the session's server."""
    return Settings(
        home=tmp_path_factory.mktemp("home"),
        storage_url=f"s3://{s3_bucket}/files",
        s3_endpoint_url=s3_endpoint,
    )


@pytest.fixture(scope="session")
def _s3_proxy_for_session(s3_endpoint: str) -> Iterator[FaultProxy]:
    host, port = s3_endpoint.removeprefix("http://").split(":")
    proxy = FaultProxy((host, int(port)))
    yield proxy
    proxy.close()


@pytest.fixture
def s3_proxy(_s3_proxy_for_session: FaultProxy) -> Iterator[FaultProxy]:
    """The session's proxy (one endpoint, so s3fs clients through it are reused), reset for each test."""
    _s3_proxy_for_session.restore()
    yield _s3_proxy_for_session
    _s3_proxy_for_session.restore()
