"""S3 failures classified for real: a missing bucket, and error replies a TCP proxy in front of
moto (tests/fixtures_s3.py) answers itself."""

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flows.errors import TerminalError, TransientError
from flows.settings import Settings
from flows.storage.store import Storage, open_storage
from tests.storage.conftest import KEY, assert_nothing_stored, random_file

if TYPE_CHECKING:
    from tests.fault_proxy import FaultProxy

pytest_plugins = ["tests.fixtures_s3"]


def test_s3_missing_bucket_is_terminal(s3_settings: Settings, tmp_path: Path) -> None:
    settings = s3_settings.model_copy(update={"storage_url": "s3://no-such-bucket/files"})
    storage = open_storage(settings, attempts=1)

    with pytest.raises(TerminalError, match="bucket does not exist"):
        storage.upload(random_file(tmp_path / "q1.csv", 10), KEY, "text/csv")


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (503, "SlowDown", TransientError),
        (500, "InternalError", TransientError),
        (403, "AccessDenied", TerminalError),
    ],
)
def test_s3_error_replies_are_classified(
    s3_settings: Settings,
    s3_storage: Storage,
    s3_proxy: "FaultProxy",
    tmp_path: Path,
    status: int,
    code: str,
    error: type[Exception],
) -> None:
    storage = open_storage(s3_proxy.reach(s3_settings), attempts=1)
    s3_proxy.answer(status, code)

    with pytest.raises(error, match=code) as raised:
        storage.upload(random_file(tmp_path / "q1.csv", 10), KEY, "text/csv")

    assert type(raised.value) is error
    assert_nothing_stored(s3_storage)
