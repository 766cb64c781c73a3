"""What the storage tests share: a local folder and S3 through s3fs on a moto server on loopback,
the key they store under, and readers of what is left behind.

Nothing is mocked. The S3 fixture needs the test module's `pytest_plugins = ["tests.fixtures_s3"]`.
"""

import os
import uuid
from pathlib import Path

import pytest

from flows.settings import Settings
from flows.storage.keys import TEMP_DIR
from flows.storage.store import Storage, open_storage

MIB = 1024 * 1024
S3_PART = 5 * MIB  # the smallest part S3 accepts
EXPORT_ID = uuid.UUID("0b6f3c5e-7d1a-4c8e-9f2b-3a4d5e6f7a8b")
KEY = f"exports/sales/2026/01/{EXPORT_ID}/q1-sales_20260105-093000.csv"


@pytest.fixture
def local_storage(tmp_path: Path) -> Storage:
    return open_storage(Settings(home=tmp_path / "home"))


@pytest.fixture
def s3_storage(s3_settings: Settings) -> Storage:
    return open_storage(s3_settings, attempts=1, block_size=S3_PART)


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def temporaries(storage: Storage) -> list[str]:
    found: list[str] = storage.filesystem.find(f"{storage.root}/{TEMP_DIR}")
    return found


def assert_nothing_stored(storage: Storage) -> None:
    assert not storage.exists(KEY)
    assert storage.list_keys() == []
    assert temporaries(storage) == []
