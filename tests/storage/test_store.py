"""Uploads, reads, listings and cleanup against real backends: a local folder, and S3 through s3fs
on a moto server on loopback.

The failures are real ones: the kernel's file-size limit (RLIMIT_FSIZE) stops a local write
mid-stream, and a TCP proxy in front of moto (tests/fixtures_s3.py) cuts the connections
mid-upload or answers S3 errors itself.
"""

import hashlib
import logging
import os
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from flows.errors import TerminalError, TransientError
from flows.settings import Settings
from flows.storage.failures import ObjectNotFoundError
from flows.storage.keys import TEMP_DIR
from flows.storage.store import Storage, StoredObject, open_storage
from tests.storage.conftest import KEY, MIB, S3_PART, assert_nothing_stored, random_file, temporaries

if TYPE_CHECKING:
    from tests.fault_proxy import FaultProxy

pytest_plugins = ["tests.fixtures_s3"]

TWO_PARTS = S3_PART + MIB  # a file S3 receives in two parts


def multipart_uploads(storage: Storage) -> list[dict[str, Any]]:
    """Unfinished S3 multipart uploads under the storage root (their parts are invisible as objects)."""
    bucket, _, prefix = storage.root.partition("/")
    response = storage.filesystem.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=f"{prefix}/")
    uploads: list[dict[str, Any]] = response.get("Uploads", [])
    return uploads


def assert_stored(storage: Storage, stored: StoredObject, source: Path) -> None:
    """The file is under its key, whole, with the right hash, and no temporary is left."""
    data = source.read_bytes()
    assert (stored.key, stored.size, stored.sha256) == (KEY, len(data), hashlib.sha256(data).hexdigest())
    assert stored.location.endswith(f"{storage.root}/{KEY}")
    with storage.open_read(KEY) as stream:
        assert stream.read() == data
    assert storage.exists(KEY)
    assert storage.size(KEY) == len(data)
    assert storage.list_keys() == [KEY]
    assert temporaries(storage) == []


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """The kernel refuses to grow any file of this process past `limit` bytes (EFBIG)."""
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)


@pytest.mark.parametrize("size", [0, 3 * MIB + 17])
def test_local_upload_stores_the_whole_file_with_its_sha256(
    local_storage: Storage, tmp_path: Path, size: int
) -> None:
    source = random_file(tmp_path / "q1.csv", size)

    stored = local_storage.upload(source, KEY, "text/csv")

    assert_stored(local_storage, stored, source)
    assert stored.location.startswith("file://")
    assert (Path(local_storage.root) / KEY).read_bytes() == source.read_bytes()


def test_local_write_failing_mid_stream_leaves_nothing(local_storage: Storage, tmp_path: Path) -> None:
    source = random_file(tmp_path / "q1.csv", 4 * MIB)

    with file_size_limit(MIB), pytest.raises(TerminalError, match="File too large"):
        local_storage.upload(source, KEY, "text/csv")

    assert_nothing_stored(local_storage)
    assert not (Path(local_storage.root) / KEY).exists()


def test_delete_is_idempotent_and_missing_files_are_reported(local_storage: Storage, tmp_path: Path) -> None:
    local_storage.upload(random_file(tmp_path / "q1.csv", 100), KEY, "text/csv")

    local_storage.delete(KEY)
    local_storage.delete(KEY)

    assert not local_storage.exists(KEY)
    with pytest.raises(ObjectNotFoundError):
        local_storage.size(KEY)
    with pytest.raises(ObjectNotFoundError):
        local_storage.open_read(KEY)


def test_list_keys_by_folder_without_temporaries(local_storage: Storage, tmp_path: Path) -> None:
    keys = ["exports/sales/a.csv", "exports/sales/2026/b.csv", "exports/sales2/c.csv", "exports/staff/d.csv"]
    for key in keys:
        local_storage.upload(random_file(tmp_path / "file", 10), key, "text/csv")
    (Path(local_storage.root) / TEMP_DIR / "unfinished.part").write_bytes(b"x")

    assert local_storage.list_keys() == sorted(keys)
    assert local_storage.list_keys("exports/sales") == ["exports/sales/2026/b.csv", "exports/sales/a.csv"]
    assert local_storage.list_keys("exports/sales/") == local_storage.list_keys("exports/sales")
    assert local_storage.list_keys("exports/payroll") == []


def test_remove_stale_temporaries_keeps_recent_ones(local_storage: Storage, tmp_path: Path) -> None:
    local_storage.upload(random_file(tmp_path / "q1.csv", 10), KEY, "text/csv")
    temp_dir = Path(local_storage.root) / TEMP_DIR
    stale, recent = temp_dir / "stale.part", temp_dir / "recent.part"
    stale.write_bytes(b"x")
    recent.write_bytes(b"x")
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    os.utime(stale, (two_days_ago, two_days_ago))

    assert local_storage.remove_stale_temporaries(older_than=timedelta(days=1)) == 1

    assert sorted(temp_dir.iterdir()) == [recent]
    assert local_storage.list_keys() == [KEY]


@pytest.mark.parametrize("size", [0, 1000, TWO_PARTS], ids=["empty", "one-put", "multipart"])
def test_s3_upload_stores_the_whole_file_with_its_sha256(
    s3_storage: Storage, s3_bucket: str, tmp_path: Path, size: int
) -> None:
    source = random_file(tmp_path / "q1.csv", size)

    stored = s3_storage.upload(source, KEY, "text/csv")

    assert_stored(s3_storage, stored, source)
    assert stored.location == f"s3://{s3_bucket}/files/{KEY}"
    assert s3_storage.filesystem.info(f"{s3_storage.root}/{KEY}")["ContentType"] == "text/csv"
    assert multipart_uploads(s3_storage) == []
    s3_storage.delete(KEY)
    s3_storage.delete(KEY)
    assert_nothing_stored(s3_storage)


def upload_through_cut(
    settings: Settings, proxy: "FaultProxy", source: Path, *, attempts: int, stay_down: bool
) -> StoredObject:
    """Upload through the proxy, which resets every connection in the middle of the second part."""
    storage = open_storage(proxy.reach(settings), attempts=attempts, block_size=S3_PART)
    proxy.cut_after(S3_PART + MIB // 2, stay_down=stay_down)
    return storage.upload(source, KEY, "text/csv")


def test_s3_connection_cut_once_is_retried_by_the_client(
    s3_settings: Settings, s3_storage: Storage, s3_proxy: "FaultProxy", tmp_path: Path
) -> None:
    source = random_file(tmp_path / "q1.csv", TWO_PARTS)

    stored = upload_through_cut(s3_settings, s3_proxy, source, attempts=3, stay_down=False)

    assert s3_proxy.cuts == 1
    assert_stored(s3_storage, stored, source)


def test_s3_server_failing_mid_upload_leaves_nothing(
    s3_settings: Settings, s3_storage: Storage, s3_proxy: "FaultProxy", tmp_path: Path
) -> None:
    """The server takes the first part, then refuses the second (503): the upload fails and aborts
    its multipart upload, so nothing at all is left."""
    source = random_file(tmp_path / "q1.csv", TWO_PARTS)
    storage = open_storage(s3_proxy.reach(s3_settings), attempts=1, block_size=S3_PART)
    s3_proxy.answer(503, "SlowDown", when=b"partNumber=2&")

    with pytest.raises(TransientError, match="SlowDown"):
        storage.upload(source, KEY, "text/csv")

    assert s3_proxy.answered == 1
    assert_nothing_stored(s3_storage)
    assert multipart_uploads(s3_storage) == []


def test_s3_server_gone_mid_upload_leaves_parts_that_cleanup_removes(
    s3_settings: Settings,
    s3_storage: Storage,
    s3_proxy: "FaultProxy",
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    aws_credentials: dict[str, str],
) -> None:
    """While the server is unreachable the upload cannot abort its multipart upload: the parts are not
    an object (nothing is visible under any key) and the cleanup flow's call removes them later."""
    source = random_file(tmp_path / "q1.csv", TWO_PARTS)

    with caplog.at_level(logging.WARNING, logger="flows.storage.store"), pytest.raises(TransientError):
        upload_through_cut(s3_settings, s3_proxy, source, attempts=1, stay_down=True)
    s3_proxy.restore()

    assert "left for cleanup" in caplog.text
    assert aws_credentials["AWS_SECRET_ACCESS_KEY"] not in caplog.text
    assert "Signature" not in caplog.text
    assert_nothing_stored(s3_storage)
    assert len(multipart_uploads(s3_storage)) == 1
    assert s3_storage.remove_stale_temporaries(older_than=timedelta(0)) == 1
    assert multipart_uploads(s3_storage) == []
