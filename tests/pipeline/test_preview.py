"""The preview: the first rows of a staged file as display text, read from the real staged sales rows."""

import datetime as dt
import decimal
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

from flows.pipeline.preview import MAX_CELL_CHARS, Preview, PreviewRows
from tests.conftest import StageRows


def preview_of(batches: Iterable[pa.RecordBatch], schema: pa.Schema, rows: int) -> Preview:
    previewer = PreviewRows(schema, rows)
    for batch in batches:
        previewer.add(batch)
    return previewer.preview()


def test_the_first_rows_of_the_sales_as_text(stage_rows: StageRows) -> None:
    staged = stage_rows("sales", columns=["order_number", "sale_date", "total_amount"], batch_rows=7)

    preview = preview_of(staged, staged.schema, 20)

    assert preview["columns"] == ["Order number", "Sale date", "Total"]
    assert len(preview["rows"]) == 20  # across three batches of 7
    first = next(iter(staged)).to_pylist()[0]
    assert preview["rows"][0][0] == str(first["order_number"])
    assert preview["rows"][0][1] == first["sale_date"].isoformat()
    assert all(isinstance(value, str) for row in preview["rows"] for value in row)


def test_values_are_shown_by_their_display_format_on_one_bounded_line(tmp_path: Path) -> None:
    schema = pa.schema(
        [
            pa.field("amount", pa.decimal128(12, 2), metadata={"label": "Amount", "format": "currency"}),
            pa.field("share", pa.float64(), metadata={"format": "percent"}),
            pa.field("at", pa.timestamp("us", tz="UTC"), metadata={"format": "datetime"}),
            pa.field("ok", pa.bool_(), metadata={"format": "boolean"}),
            pa.field("note", pa.string()),
        ]
    )
    rows = {
        "amount": [decimal.Decimal("1234567.50"), None],
        "share": [12.5, None],
        "at": [dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC), None],
        "ok": [True, False],
        "note": ["line\r\nbreak\x00 <b>kept</b>", "x" * 1000],
    }
    batches = [pa.RecordBatch.from_pydict(rows, schema=schema)]

    preview = preview_of(batches, schema, 20)

    assert preview["columns"] == ["Amount", "share", "at", "ok", "note"]
    assert preview["rows"][0] == [
        "1,234,567.50",
        "12.50%",
        "2026-01-05 09:30:00 UTC",
        "Yes",
        "line break <b>kept</b>",
    ]
    assert preview["rows"][1][:4] == ["", "", "", "No"]
    assert len(preview["rows"][1][4]) == MAX_CELL_CHARS
    assert preview_of(batches, schema, 0)["rows"] == []
