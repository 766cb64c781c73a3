"""Delivery rules and the rows' content checksum."""

import pyarrow as pa
import pytest

from flows.pipeline.delivery import decide
from flows.pipeline.row_checksum import RowChecksum
from flows.vocabulary import Delivery

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.decimal128(10, 2))])


def table(names: list[str | None]) -> pa.Table:
    ids = list(range(len(names)))
    amounts = [None if index % 3 == 0 else index for index in ids]
    return pa.Table.from_pydict({"id": ids, "name": names, "amount": amounts}, schema=SCHEMA)


def checksum(rows: pa.Table, batch_rows: int) -> str:
    hashed = RowChecksum(SCHEMA)
    for batch in rows.to_batches(max_chunksize=batch_rows):
        hashed.update(batch)
    return hashed.hexdigest()


def test_the_checksum_depends_on_the_rows_not_on_how_they_were_batched() -> None:
    rows = table([f"name {index}" for index in range(1000)])
    assert checksum(rows, 7) == checksum(rows, 1000) == checksum(rows, 64)


def test_any_change_in_the_rows_changes_the_checksum() -> None:
    names: list[str | None] = [f"name {index}" for index in range(100)]
    base = checksum(table(names), 10)
    assert checksum(table([*names[:50], "changed", *names[51:]]), 10) != base
    assert checksum(table(names[:-1]), 10) != base
    assert checksum(table([*names[:-1], None]), 10) != checksum(table([*names[:-1], ""]), 10)


def test_timestamps_count_to_their_unit() -> None:
    schema = pa.schema([("at", pa.timestamp("us", tz="UTC"))])
    rows = [1_700_000_000_000_000, None, 1_700_000_000_000_001]

    def of(values: list[int | None]) -> str:
        hashed = RowChecksum(schema)
        hashed.update(pa.record_batch([pa.array(values, pa.timestamp("us", tz="UTC"))], schema=schema))
        return hashed.hexdigest()

    assert of(rows) == of(list(rows))
    assert of(rows) != of([rows[0], None, rows[0]])
    assert of(rows) != of([rows[0], 0, rows[2]])


def test_no_rows_have_a_checksum_of_their_schema() -> None:
    assert RowChecksum(SCHEMA).hexdigest() == checksum(table([]), 10)
    assert RowChecksum(SCHEMA).hexdigest() != RowChecksum(pa.schema([("id", pa.int32())])).hexdigest()


@pytest.mark.parametrize(
    ("deliver", "rows", "checksum", "last", "delivered"),
    [
        (Delivery.ALWAYS, 0, "a", "a", True),
        (Delivery.IF_ROWS, 0, "a", None, False),
        (Delivery.IF_ROWS, 1, "a", "a", True),
        (Delivery.IF_CHANGED, 5, "a", "a", False),
        (Delivery.IF_CHANGED, 5, "b", "a", True),
        (Delivery.IF_CHANGED, 5, "a", None, True),
        (Delivery.IF_CHANGED, 0, "a", None, True),
    ],
)
def test_the_rules(deliver: Delivery, rows: int, checksum: str, last: str | None, delivered: bool) -> None:
    decision = decide(deliver, rows, checksum, last)
    assert decision.deliver is delivered
    assert (decision.skipped is None) is delivered
