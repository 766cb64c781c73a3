"""Storage keys: refused before any file operation, and the layout of an export's key."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.errors import TerminalError
from flows.storage.keys import TEMP_DIR, export_key
from flows.storage.store import Storage
from tests.storage.conftest import EXPORT_ID, KEY, random_file


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../outside.csv",
        "exports/../../outside.csv",
        "exports//q1.csv",
        "exports/./q1.csv",
        "exports/q1.csv/",
        "exports\\q1.csv",
        "exports/q1\n.csv",
        "exports/*.csv",
        f"{TEMP_DIR}/q1.csv",
        "exports/" + "x" * 1100,
    ],
)
def test_bad_keys_are_refused(local_storage: Storage, tmp_path: Path, key: str) -> None:
    source = random_file(tmp_path / "q1.csv", 10)

    with pytest.raises(TerminalError, match="invalid storage key"):
        local_storage.upload(source, key, "text/csv")
    for operation in (local_storage.delete, local_storage.exists, local_storage.open_read):
        with pytest.raises(TerminalError, match="invalid storage key"):
            operation(key)

    files = sorted(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*") if path.is_file())
    assert files == [
        "home/secrets/jwt_secret",
        "home/secrets/signing_secret",
        "home/secrets/webhook_secret",
        "q1.csv",
    ]


def test_export_key_layout() -> None:
    key = export_key(
        "sales", datetime(2026, 1, 5, 9, 30, tzinfo=UTC), EXPORT_ID, "q1-sales_20260105-093000.csv"
    )

    assert key == KEY
    with pytest.raises(TerminalError):
        export_key("sales", datetime(2026, 1, 5, tzinfo=UTC), EXPORT_ID, "../q1.csv")
