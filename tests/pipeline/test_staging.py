"""Staged rows: written once with their count, read back batch by batch with progress callbacks."""

import pyarrow as pa
import pytest

from flows.pipeline.staging import StagedRows, write_staged
from tests.conftest import StageRows


def test_round_trip_keeps_schema_rows_and_order(tmp_path) -> None:
    schema = pa.schema([pa.field("n", pa.int64(), metadata={"label": "Number", "format": "number"})])
    batches = [pa.record_batch([pa.array(range(start, start + 3))], schema=schema) for start in (0, 3, 6)]
    path = tmp_path / "rows.arrow"
    assert write_staged(batches, schema, path) == 9

    seen: list[int] = []
    staged = StagedRows.open(path, on_batch=seen.append)
    assert staged.total_rows == 9
    assert staged.schema.field("n").metadata == {b"label": b"Number", b"format": b"number"}
    assert [value for batch in staged for value in batch.column(0).to_pylist()] == list(range(9))
    assert seen == [3, 6, 9]
    assert staged.reader().read_all().num_rows == 9


def test_a_callback_can_stop_the_reading(tmp_path) -> None:
    schema = pa.schema([pa.field("n", pa.int64())])
    path = tmp_path / "rows.arrow"
    write_staged([pa.record_batch([pa.array([1, 2])], schema=schema)] * 5, schema, path)

    def stop_after_four(rows: int) -> None:
        if rows >= 4:
            raise InterruptedError("cancelled")

    read: list[int] = []
    with pytest.raises(InterruptedError):
        read.extend(batch.num_rows for batch in StagedRows.open(path, on_batch=stop_after_four))
    assert sum(read) == 4


def test_staging_an_export_type_counts_its_rows(stage_rows: StageRows) -> None:
    staged = stage_rows("sales", filters={"region": "EMEA"})
    assert staged.total_rows == sum(batch.num_rows for batch in staged)
    assert 0 < staged.total_rows < 3000
