"""CSV, JSON and Parquet renderers, each file read back by an independent reader.

Readers: Python's csv and json modules, pyarrow.parquet and DuckDB. Every value is compared with
the staged Arrow data it came from, in order, so the demo data's NULLs, scripts, emoji, quotes,
newlines, 10k-character notes, formula-like strings, negative amounts and DST-edge timestamps
all have to survive.
"""

import csv
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.catalog.definitions import get_definition
from flows.pipeline.sources import Source
from flows.render import RenderOptions
from flows.render import csv as csv_renderer
from flows.render import json as json_renderer
from flows.render import parquet as parquet_renderer
from flows.render.rows import Rows
from flows.vocabulary import ExportType
from tests.conftest import StageRows, rows_of

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
RENDERERS = {"csv": csv_renderer, "json": json_renderer, "parquet": parquet_renderer}
Check = Callable[[Rows, Path], None]


class Stop(Exception):
    """What a test's on_batch raises to stop a render."""


def all_columns(export_type: ExportType) -> list[str]:
    return list(get_definition(export_type).column_names)


def staged_rows(rows: Rows) -> list[list[object]]:
    return [list(record.values()) for record in pa.Table.from_batches(list(rows), rows.schema).to_pylist()]


def labels(schema: pa.Schema) -> list[str]:
    return [field.metadata[b"label"].decode() for field in schema]


def render(renderer: ModuleType, rows: Rows, folder: Path, **options: object) -> Path:
    target = folder / f"export.{renderer.EXTENSION}"
    renderer.render(rows, target, RenderOptions.model_validate(options))
    return target


# CSV


def csv_text(value: object, guard: bool = True) -> str:
    """The CSV field a staged value should become."""
    match value:
        case None:
            return ""
        case bool():
            return "true" if value else "false"
        case str():
            return "'" + value if guard and value.startswith(FORMULA_STARTS) else value
        case Decimal():
            return format(value, "f")
        case datetime():
            return value.isoformat(timespec="microseconds")
        case date() | int():
            return str(value)
    raise TypeError(f"no CSV text for {value!r}")


def read_csv(path: Path, delimiter: str = ",") -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file, delimiter=delimiter, strict=True))


def check_csv(rows: Rows, folder: Path) -> None:
    records = read_csv(render(csv_renderer, rows, folder))
    assert records[0] == labels(rows.schema)
    assert records[1:] == [[csv_text(value) for value in row] for row in staged_rows(rows)]


# JSON


def typed(value: object) -> tuple[str, object]:
    """A value with its type, decimals by their digits: 12.50 must not come back as 12.5 or 12.5000."""
    return type(value).__name__, str(value) if isinstance(value, Decimal) else value


def json_value(value: object) -> tuple[str, object]:
    """What a staged value should read back as from JSON, typed."""
    if isinstance(value, datetime):
        return typed(value.isoformat(timespec="microseconds"))
    if isinstance(value, date):
        return typed(value.isoformat())
    return typed(value)


def expected_objects(rows: Rows) -> list[list[tuple[str, tuple[str, object]]]]:
    return [
        [(name, json_value(value)) for name, value in zip(rows.schema.names, row, strict=True)]
        for row in staged_rows(rows)
    ]


def read_objects(objects: Sequence[Mapping[str, object]]) -> list[list[tuple[str, tuple[str, object]]]]:
    return [[(name, typed(value)) for name, value in item.items()] for item in objects]


def check_json(rows: Rows, folder: Path) -> None:
    text = render(json_renderer, rows, folder).read_text(encoding="utf-8")
    assert read_objects(json.loads(text, parse_float=Decimal)) == expected_objects(rows)


def check_ndjson(rows: Rows, folder: Path) -> None:
    lines = render(json_renderer, rows, folder, json_lines=True).read_text(encoding="utf-8").split("\n")
    assert lines.pop() == ""
    assert read_objects([json.loads(line, parse_float=Decimal) for line in lines]) == expected_objects(rows)


# Parquet


def check_parquet(rows: Rows, folder: Path) -> None:
    target = render(parquet_renderer, rows, folder)
    expected = pa.Table.from_batches(list(rows), rows.schema)
    table = pq.read_table(target)
    assert table.schema.equals(rows.schema, check_metadata=True)
    assert table.equals(expected)
    metadata = pq.ParquetFile(target).metadata
    assert metadata.num_rows == rows.expected_rows
    assert {
        metadata.row_group(group).column(column).compression
        for group in range(metadata.num_row_groups)
        for column in range(metadata.num_columns)
    } == {"ZSTD"}
    with duckdb.connect() as connection:
        counted = connection.execute("SELECT count(*) FROM read_parquet(?)", [str(target)]).fetchone()
    assert counted == (rows.expected_rows,)


CHECKS: dict[str, Check] = {
    "csv": check_csv,
    "json": check_json,
    "ndjson": check_ndjson,
    "parquet": check_parquet,
}


@pytest.mark.parametrize("check", CHECKS.values(), ids=CHECKS.keys())
@pytest.mark.parametrize("export_type", list(ExportType))
def test_every_type_round_trips_from_duckdb(
    export_type: ExportType, check: Check, stage_rows: StageRows, tmp_path: Path
) -> None:
    rows = stage_rows(export_type, columns=all_columns(export_type))
    assert rows.expected_rows > 0
    check(rows, tmp_path)


@pytest.mark.parametrize("check", CHECKS.values(), ids=CHECKS.keys())
def test_every_format_round_trips_from_postgresql(
    check: Check, stage_rows: StageRows, postgres_warehouse: Source, tmp_path: Path
) -> None:
    rows = stage_rows(ExportType.SALES, source=postgres_warehouse, columns=all_columns(ExportType.SALES))
    assert rows.expected_rows > 0
    check(rows, tmp_path)


def test_the_demo_data_is_as_nasty_as_these_tests_need(stage_rows: StageRows) -> None:
    values = [
        value
        for row in staged_rows(stage_rows("sales", columns=all_columns(ExportType.SALES)))
        for value in row
    ]
    texts = [value for value in values if isinstance(value, str)]
    assert None in values
    assert any(text.startswith(FORMULA_STARTS[:4]) for text in texts)
    assert any(character in text for text in texts for character in ',"\n')
    assert any(len(text) >= 10_000 for text in texts)
    assert any(not text.isascii() for text in texts)
    assert any(isinstance(value, Decimal) and value < 0 for value in values)


# Options and exact bytes, on a small staged file of our own


def field(name: str, arrow_type: pa.DataType, label: str) -> pa.Field:
    return pa.field(name, arrow_type, metadata={"label": label, "format": "text"})


SMALL_SCHEMA = pa.schema(
    [
        field("id", pa.int64(), "ID"),
        field("note", pa.string(), "Note, or not"),
        field("amount", pa.decimal128(18, 2), "Amount"),
        field("day", pa.date32(), "Day"),
        field("at", pa.timestamp("us", tz="UTC"), "At"),
        field("ok", pa.bool_(), "OK"),
    ]
)
SMALL_ROWS: list[list[object]] = [
    [
        1,
        "=1+2",
        Decimal("-0.05"),
        date(2024, 3, 31),
        datetime(2024, 3, 31, 1, 30, 0, 250000, tzinfo=UTC),
        True,
    ],
    [2, None, None, None, None, None],
    [3, "", Decimal("9999999999999999.99"), date(1, 1, 1), datetime(2024, 10, 27, 1, 0, tzinfo=UTC), False],
    [4, 'say "hi",\r\nbye', Decimal("-1234567890123456.78"), date(9999, 12, 31), None, True],
    [5, "+x", Decimal("0.00"), None, datetime(1970, 1, 1, tzinfo=UTC), None],
    [6, "-y", Decimal("12.50"), None, None, None],
    [7, "@z", None, None, None, None],
    [8, "\tt", None, None, None, None],
    [9, "\rr", None, None, None, None],
    [10, "a-=@", None, None, None, None],
    [11, "Ünïcödé ✓ 😀 مرحبا", None, None, None, None],
]


def small_staged(folder: Path, rows: Sequence[Sequence[object]] = SMALL_ROWS, batch_rows: int = 4) -> Rows:
    columns = list(zip(*rows, strict=True))
    table = pa.table(
        [pa.array(values, type=item.type) for values, item in zip(columns, SMALL_SCHEMA, strict=True)],
        schema=SMALL_SCHEMA,
    )
    return rows_of(table.to_batches(max_chunksize=batch_rows), SMALL_SCHEMA)


def test_csv_bytes_are_rfc_4180_with_crlf_minimal_quoting_and_iso_values(tmp_path: Path) -> None:
    data = render(csv_renderer, small_staged(tmp_path, SMALL_ROWS[:4]), tmp_path).read_bytes()
    assert data == (
        b'ID,"Note, or not",Amount,Day,At,OK\r\n'
        b"1,'=1+2,-0.05,2024-03-31,2024-03-31T01:30:00.250000+00:00,true\r\n"
        b"2,,,,,\r\n"
        b'3,"",9999999999999999.99,0001-01-01,2024-10-27T01:00:00.000000+00:00,false\r\n'
        b'4,"say ""hi"",\r\nbye",-1234567890123456.78,9999-12-31,,true\r\n'
    )


@pytest.mark.parametrize("guard", [True, False])
def test_formula_guard_neutralises_text_cells_and_never_numbers(tmp_path: Path, guard: bool) -> None:
    records = read_csv(render(csv_renderer, small_staged(tmp_path), tmp_path, formula_guard=guard))
    assert records[1:] == [[csv_text(value, guard) for value in row] for row in SMALL_ROWS]
    notes = [record[1] for record in records[1:]]
    if guard:
        assert [note for note in notes if note.startswith("'")] == [
            "'=1+2",
            "'+x",
            "'-y",
            "'@z",
            "'\tt",
            "'\rr",
        ]
    else:
        assert "=1+2" in notes
        assert "\rr" in notes
    assert [record[2] for record in records[1:] if record[2].startswith("-")] == [
        "-0.05",
        "-1234567890123456.78",
    ]


def test_formula_guard_leaves_negative_amounts_of_the_demo_data_alone(
    stage_rows: StageRows, tmp_path: Path
) -> None:
    rows = stage_rows("sales", columns=["sale_id", "customer_name", "margin_amount", "margin_percent"])
    records = read_csv(render(csv_renderer, rows, tmp_path))[1:]
    negative = [record[2] for record in records if record[2].startswith("-")]
    assert negative
    assert all(Decimal(amount) < 0 for amount in negative)
    assert any(record[1].startswith("'") for record in records)
    assert records == [[csv_text(value) for value in row] for row in staged_rows(rows)]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("header", ["labels", "names"])
def test_csv_delimiter_and_header_options(tmp_path: Path, delimiter: str, header: str) -> None:
    rows = small_staged(tmp_path)
    target = render(csv_renderer, rows, tmp_path, csv_delimiter=delimiter, header=header)
    records = read_csv(target, delimiter)
    assert records[0] == (labels(rows.schema) if header == "labels" else rows.schema.names)
    assert records[1:] == [[csv_text(value) for value in row] for row in SMALL_ROWS]


@pytest.mark.parametrize("bom", [True, False])
def test_csv_bom_option(tmp_path: Path, bom: bool) -> None:
    data = render(csv_renderer, small_staged(tmp_path), tmp_path, csv_bom=bom).read_bytes()
    assert data.startswith(b"\xef\xbb\xbfID,") is bom
    assert data.startswith(b"ID,") is not bom


def test_json_numbers_are_exact_and_strings_utf8(tmp_path: Path) -> None:
    text = render(json_renderer, small_staged(tmp_path), tmp_path).read_text(encoding="utf-8")
    assert '"amount":9999999999999999.99' in text
    assert '"amount":-1234567890123456.78' in text
    assert '"amount":12.50' in text
    assert "Ünïcödé ✓ 😀 مرحبا" in text
    objects = json.loads(text, parse_float=Decimal)
    assert objects[0] == {
        "id": 1,
        "note": "=1+2",
        "amount": Decimal("-0.05"),
        "day": "2024-03-31",
        "at": "2024-03-31T01:30:00.250000+00:00",
        "ok": True,
    }
    assert objects[1] == {"id": 2, "note": None, "amount": None, "day": None, "at": None, "ok": None}


def test_ndjson_is_one_object_a_line(tmp_path: Path) -> None:
    lines = render(json_renderer, small_staged(tmp_path), tmp_path, json_lines=True).read_bytes().split(b"\n")
    assert lines.pop() == b""
    assert [json.loads(line)["id"] for line in lines] == list(range(1, len(SMALL_ROWS) + 1))


def test_parquet_keeps_arrow_types_labels_and_uses_zstd(tmp_path: Path) -> None:
    rows = small_staged(tmp_path)
    target = render(parquet_renderer, rows, tmp_path)
    schema = pq.read_schema(target)
    assert [item.type for item in schema] == [
        pa.int64(),
        pa.string(),
        pa.decimal128(18, 2),
        pa.date32(),
        pa.timestamp("us", tz="UTC"),
        pa.bool_(),
    ]
    assert schema.field("note").metadata == {b"label": b"Note, or not", b"format": b"text"}
    assert pq.read_table(target).to_pylist() == pa.Table.from_batches(list(rows)).to_pylist()
    column = pq.ParquetFile(target).metadata.row_group(0).column(2)
    assert column.compression == "ZSTD"


def test_parquet_row_groups_have_about_the_set_size(tmp_path: Path) -> None:
    rows = ordered_staged(tmp_path, total=400_000)
    metadata = pq.ParquetFile(render(parquet_renderer, rows, tmp_path)).metadata
    sizes = [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]
    assert sum(sizes) == 400_000
    assert len(sizes) == 4
    assert all(abs(size - parquet_renderer.ROW_GROUP_ROWS) < 5_000 for size in sizes[:-1])


@pytest.mark.parametrize("export_format", RENDERERS)
def test_no_rows_make_a_valid_empty_file(export_format: str, stage_rows: StageRows, tmp_path: Path) -> None:
    rows = stage_rows("sales", filters={"date_from": "2999-01-01"})
    assert rows.expected_rows == 0
    target = render(RENDERERS[export_format], rows, tmp_path)
    match export_format:
        case "csv":
            assert target.read_bytes() == (",".join(labels(rows.schema)) + "\r\n").encode()
        case "json":
            assert json.loads(target.read_text(encoding="utf-8")) == []
        case "parquet":
            assert pq.read_table(target).schema.equals(rows.schema, check_metadata=True)
            assert pq.read_table(target).num_rows == 0


def test_empty_ndjson_is_an_empty_file(stage_rows: StageRows, tmp_path: Path) -> None:
    rows = stage_rows("sales", filters={"date_from": "2999-01-01"})
    assert render(json_renderer, rows, tmp_path, json_lines=True).read_bytes() == b""


# Streaming: order, the caller's thread, exceptions


def ordered_staged(folder: Path, total: int, batch_rows: int = 10_000) -> Rows:
    """Rows numbered 0.. with text that the formula guard changes on every third row."""
    schema = pa.schema([field("n", pa.int64(), "N"), field("text", pa.string(), "Text")])
    numbers = pa.array(range(total), type=pa.int64())
    texts = pa.array([f"={n}" if n % 3 == 0 else f"row {n}" for n in range(total)])
    table = pa.table([numbers, texts], schema=schema)
    return rows_of(table.to_batches(max_chunksize=batch_rows), schema)


@pytest.mark.parametrize("export_format", RENDERERS)
def test_rows_keep_their_order_when_duckdb_works_in_parallel(export_format: str, tmp_path: Path) -> None:
    rows = ordered_staged(tmp_path, total=300_000)
    target = render(RENDERERS[export_format], rows, tmp_path)
    with duckdb.connect() as connection:
        connection.execute("SET threads = 1")
        reader = {"csv": "read_csv", "json": "read_json", "parquet": "read_parquet"}[export_format]
        numbers = connection.execute(
            f"SELECT {'N' if export_format == 'csv' else 'n'} FROM {reader}(?)", [str(target)]
        ).fetchnumpy()
    assert numbers[next(iter(numbers))].tolist() == list(range(300_000))


@pytest.mark.parametrize("export_format", RENDERERS)
def test_progress_runs_on_the_callers_thread_and_its_exception_propagates(
    export_format: str, stage_rows: StageRows, tmp_path: Path
) -> None:
    staged = stage_rows("sales", columns=all_columns(ExportType.SALES))
    assert staged.expected_rows > 2000
    threads: list[int] = []

    def stop_at_the_second_batch(rows: int) -> None:
        threads.append(threading.get_ident())
        if rows >= 2000:
            raise Stop(f"cancelled after {rows} rows")

    rows = replace(staged, on_batch=stop_at_the_second_batch)
    with pytest.raises(Stop, match="cancelled after 2000 rows"):
        render(RENDERERS[export_format], rows, tmp_path)
    assert threads == [threading.get_ident()] * 2


@pytest.mark.parametrize("export_format", RENDERERS)
def test_every_batch_is_reported_once_in_order(export_format: str, tmp_path: Path) -> None:
    staged = ordered_staged(tmp_path, total=25_000)
    seen: list[int] = []
    render(RENDERERS[export_format], replace(staged, on_batch=seen.append), tmp_path)
    assert seen == [10_000, 20_000, 25_000]


@pytest.mark.parametrize("export_format", RENDERERS)
def test_a_write_duckdb_cannot_do_fails_with_its_error(export_format: str, tmp_path: Path) -> None:
    rows = ordered_staged(tmp_path, total=50_000)
    with pytest.raises(duckdb.IOException):
        RENDERERS[export_format].render(rows, tmp_path / "missing" / "export", RenderOptions())
