"""The Excel renderer, read back with independent readers (openpyxl, python-calamine).

Tolerances: decimals and integers read back as the double nearest to the staged value (openpyxl
parses integers exactly); openpyxl and calamine round date-times to the millisecond, so cells
are compared within 0.5 ms, and the serials in the sheet XML are checked to the microsecond.
"""

import re
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import openpyxl
import pyarrow as pa
import pytest
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from python_calamine import CalamineWorkbook

from flows.catalog import model as catalog
from flows.catalog.definitions import get_definition
from flows.catalog.model import Column, DisplayFormat
from flows.pipeline.sources import Source
from flows.render import RenderOptions, column_label, display_format, excel, renderer_for
from flows.render.rows import Rows
from flows.vocabulary import ExportFormat, ExportType
from tests.conftest import StageRows, rows_of

NUMBER_FORMATS = {
    DisplayFormat.CURRENCY: "#,##0{places};[Red]-#,##0{places}",
    DisplayFormat.PERCENT: "0{places}%",
    DisplayFormat.DATE: "yyyy-mm-dd",
    DisplayFormat.DATETIME: 'yyyy-mm-dd hh:mm:ss "UTC"',
}
EXCEL_EPOCH = datetime(1899, 12, 30)
FORMULA = re.compile(rb"<f[ >]")
NAMESPACES = {"main": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def render(rows: Rows, target: Path, options: RenderOptions | None = None, **keywords: int) -> Path:
    excel.render(rows, target, options or RenderOptions(), **keywords)
    return target


def stage(path: Path, columns: Sequence[Column], values: Mapping[str, Sequence[object]]) -> Rows:
    """Rows of these catalog columns and values, in batches of 4 rows."""
    schema = catalog.arrow_schema(columns)
    batch = pa.RecordBatch.from_pydict(values, schema=schema)
    return rows_of((batch.slice(start, 4) for start in range(0, batch.num_rows, 4)), schema)


def expected_value(value: object, column: pa.Field) -> object:
    """What openpyxl should read for a staged value."""
    if isinstance(value, Decimal):
        return float(value / 100 if display_format(column) is DisplayFormat.PERCENT else value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return value


def expected_format(column: pa.Field) -> str:
    """The number format a column's display format asks for (decimal places from its scale)."""
    decimal = pa.types.is_decimal(column.type)
    places = "." + "0" * column.type.scale if decimal else ""
    if display_format(column) is DisplayFormat.NUMBER:
        return f"#,##0{places}" if decimal else "0"
    return NUMBER_FORMATS.get(display_format(column), "General").format(places=places)


def expected_type(column: pa.Field) -> str:
    kind = column.type
    if pa.types.is_string(kind):
        return "s"
    if pa.types.is_boolean(kind):
        return "b"
    return "d" if pa.types.is_temporal(kind) else "n"


def assert_no_formulas(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        sheets = [name for name in archive.namelist() if name.startswith("xl/worksheets/")]
        assert sheets
        for name in sheets:
            assert not FORMULA.search(archive.read(name)), f"a formula in {name}"


def assert_round_trip(rows: Rows, path: Path) -> None:
    """Sheets, header, layout, cell types, number formats and values against the staged rows."""
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["Data", "About"]
    sheet = workbook["Data"]
    assert sheet.sheet_view.tabSelected
    assert not workbook["About"].sheet_view.tabSelected
    schema = rows.schema
    header = next(sheet.iter_rows(max_row=1))
    assert [cell.value for cell in header] == [column_label(column) for column in schema]
    assert all(cell.font.b for cell in header)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{get_column_letter(len(schema))}{rows.expected_rows + 1}"
    assert sheet.max_row == rows.expected_rows + 1
    for index in range(1, len(schema) + 1):
        assert 8 <= sheet.column_dimensions[get_column_letter(index)].width <= excel.MAX_COLUMN_WIDTH

    staged = pa.Table.from_batches(list(rows), schema=schema).to_pylist()
    for row, cells in zip(staged, sheet.iter_rows(min_row=2), strict=True):
        for column, cell in zip(schema, cells, strict=True):
            value = row[column.name]
            if value is None:
                assert cell.value is None, (column.name, cell.coordinate)
                continue
            assert cell.data_type == expected_type(column), (column.name, cell.coordinate)
            assert cell.number_format == expected_format(column), (column.name, cell.coordinate)
            if pa.types.is_timestamp(column.type):
                assert abs(cell.value - expected_value(value, column)) <= timedelta(microseconds=500)
            else:
                assert cell.value == expected_value(value, column), (column.name, cell.coordinate)
    assert_no_formulas(path)
    calamine = CalamineWorkbook.from_path(path)
    assert calamine.sheet_names == ["Data", "About"]
    read = calamine.get_sheet_by_name("Data").to_python()[1:]
    assert len(read) == rows.expected_rows
    for index, column in enumerate(schema):
        if pa.types.is_string(column.type):
            assert [row[index] for row in read] == [row[column.name] or "" for row in staged]


def sheet_rows(path: Path, name: str) -> list[tuple[object, ...]]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return list(workbook[name].iter_rows(values_only=True))
    finally:
        workbook.close()


def about(path: Path) -> dict[str, list[object]]:
    """The About sheet's rows by their first cell (Filter and Note rows repeat), read by calamine
    (openpyxl takes seconds to open a workbook with a million-row sheet, even read-only)."""
    found: dict[str, list[object]] = {}
    for key, *rest in CalamineWorkbook.from_path(path).get_sheet_by_name("About").to_python():
        found.setdefault(str(key), []).append(tuple(rest) if rest[1] else rest[0])
    return found


def test_is_the_excel_renderer() -> None:
    renderer = renderer_for(ExportFormat.EXCEL)
    assert renderer.EXTENSION == "xlsx"
    assert renderer.MEDIA_TYPE == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize("export_type", list(ExportType))
def test_every_type_round_trips_from_duckdb(
    export_type: ExportType, stage_rows: StageRows, tmp_path: Path
) -> None:
    rows = stage_rows(export_type, columns=list(get_definition(export_type).column_names))
    assert rows.expected_rows > 0
    assert_round_trip(rows, render(rows, tmp_path / "out.xlsx"))


def test_round_trips_from_postgresql(
    stage_rows: StageRows, postgres_warehouse: Source, tmp_path: Path
) -> None:
    columns = list(get_definition(ExportType.SALES).column_names)
    rows = stage_rows(ExportType.SALES, source=postgres_warehouse, columns=columns)
    assert_round_trip(rows, render(rows, tmp_path / "out.xlsx"))


def test_formula_looking_text_stays_text(stage_rows: StageRows, tmp_path: Path) -> None:
    rows = stage_rows(ExportType.SALES, columns=["sale_id", "customer_name", "notes"])
    path = render(rows, tmp_path / "out.xlsx")
    cells = [cell for row in openpyxl.load_workbook(path)["Data"].iter_rows(min_row=2) for cell in row]
    looking = [cell for cell in cells if isinstance(cell.value, str) and cell.value[:1] in "=+-@"]
    assert {"=SUM(A1:A9)", '=HYPERLINK("http://example.com","x")', "@channel"} <= {c.value for c in looking}
    assert all(cell.data_type == "s" for cell in looking)
    assert_no_formulas(path)


def test_odd_text_dates_and_numbers(tmp_path: Path) -> None:
    long_text = "é" * 32_760 + "👍" * 4 + "tail"  # the cut falls inside the fourth emoji
    columns = [
        catalog.text("note"),
        catalog.money("amount"),
        catalog.percent("share", "Share"),
        catalog.day("day"),
        catalog.instant("at"),
        catalog.flag("ok"),
        catalog.integer("n"),
    ]
    values: dict[str, list[object]] = {
        "note": ["ctl\x01x", "lit _x0041_ y", "a\r\nb", " padded ", "&<>\"'", "", None, long_text],
        "amount": [
            Decimal("1234567890123456.78"),
            Decimal("-0.01"),
            Decimal("0.10"),
            None,
            *[Decimal(1)] * 4,
        ],
        "share": [Decimal("12.34"), Decimal("-0.01"), Decimal("100"), None, *[Decimal(1)] * 4],
        "day": [
            date(1, 1, 1),
            date(1900, 2, 28),
            date(1900, 3, 1),
            date(9999, 12, 31),
            None,
            *[date(2025, 1, 1)] * 3,
        ],
        "at": [
            datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC),
            datetime(2025, 3, 30, 0, 59, 59, 999_999, tzinfo=UTC),
            datetime(1969, 12, 31, 23, 59, 59, 123_457, tzinfo=UTC),
            None,
            *[datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)] * 4,
        ],
        "ok": [True, False, None, *[True] * 5],
        "n": [2**53 + 1, -5, None, *[0] * 5],
    }
    rows = stage(tmp_path / "odd.arrow", columns, values)
    path = render(rows, tmp_path / "odd.xlsx")

    decoded = CalamineWorkbook.from_path(path).get_sheet_by_name("Data").to_python()[1:]
    texts = [row[0] for row in decoded]
    cut = texts.pop()
    assert isinstance(cut, str)
    assert texts == ["ctl\x01x", "lit _x0041_ y", "a\r\nb", " padded ", "&<>\"'", "", ""]  # NULL reads as ""
    assert len(cut.encode("utf-16-le")) // 2 == 32_766
    assert cut == long_text[:32_763]

    sheet = openpyxl.load_workbook(path)["Data"]
    amounts = [sheet.cell(row, 2).value for row in range(2, 6)]
    assert amounts == [1234567890123456.78, -0.01, 0.1, None]
    assert [sheet.cell(row, 3).value for row in range(2, 6)] == [0.1234, -0.0001, 1.0, None]
    days = [(sheet.cell(row, 4).value, sheet.cell(row, 4).data_type) for row in range(2, 7)]
    assert days == [
        ("0001-01-01", "s"),
        ("1900-02-28", "s"),
        (datetime(1900, 3, 1), "d"),
        (datetime(9999, 12, 31), "d"),
        (None, "n"),
    ]
    assert sheet.cell(2, 5).value == "1899-12-31 23:59:59.000000Z"
    assert [sheet.cell(row, 6).value for row in range(2, 5)] == [True, False, None]
    assert sheet.cell(2, 7).value == 2**53 + 1  # written as digits; Excel itself keeps 2**53

    staged_micros = pa.Table.from_batches(list(rows)).column("at").cast(pa.int64()).to_pylist()
    for row, micros in enumerate(staged_micros[1:3], start=3):
        assert serial_micros(path, row, 5) == micros

    notes = about(path)["Note"]
    assert "Text longer than Excel's 32,767-character cell limit was cut to that limit in 1 cells." in notes
    assert any("ISO text in 3 cells" in str(note) for note in notes)


def serial_micros(path: Path, row: int, column: int) -> int:
    """Microseconds since 1970 of the serial stored in a cell of Data (1-based), to the nearest."""
    with zipfile.ZipFile(path) as archive:
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    cells = sheet.find(f".//main:row[@r='{row}']", NAMESPACES)
    assert cells is not None
    value = cells[column - 1].findtext("main:v", namespaces=NAMESPACES)
    assert value is not None
    days_since_1970 = Decimal(float(value)) - (datetime(1970, 1, 1) - EXCEL_EPOCH).days
    return int((days_since_1970 * 86_400_000_000).to_integral_value())


def test_about_sheet(stage_rows: StageRows, tmp_path: Path) -> None:
    rows = stage_rows(ExportType.SALES)
    options = RenderOptions(
        title="Q1 sales & returns",
        export_type="sales",
        filters={"region": ["EMEA", "APAC"], "date_from": date(2025, 1, 1), "total_amount": {"gte": 10}},
        generated_at=datetime(2025, 3, 30, 0, 30, tzinfo=UTC),
        requester_timezone="Europe/Paris",
    )
    path = render(rows, tmp_path / "out.xlsx", options)
    found = about(path)
    assert found["Export"] == ["Q1 sales & returns"]
    assert found["Export type"] == ["sales"]
    assert found["Filter"] == [
        ("region", "EMEA, APAC"),
        ("date_from", "2025-01-01"),
        ("total_amount", "gte 10"),
    ]
    assert found["Rows"] == [str(rows.expected_rows)]
    assert found["Sheets"] == ["Data"]
    assert found["Generated at (UTC)"] == ["2025-03-30 00:30:00 UTC"]
    assert found["Generated at (Europe/Paris)"] == ["2025-03-30 01:30:00 CET (UTC+0100)"]
    assert "Date-times are in UTC." in found["Note"]
    lines = sheet_rows(path, "About")
    listed = lines[lines.index(("Column", "Name", "Format")) + 1 :]
    assert listed == [
        (column_label(column), column.name, display_format(column).value) for column in rows.schema
    ]


def test_header_of_column_names(stage_rows: StageRows, tmp_path: Path) -> None:
    rows = stage_rows(ExportType.SALES, columns=["sale_id", "total_amount"])
    path = render(rows, tmp_path / "out.xlsx", RenderOptions(header="names"))
    assert sheet_rows(path, "Data")[0] == ("sale_id", "total_amount")


def test_no_rows_gives_a_header_and_an_about_sheet(stage_rows: StageRows, tmp_path: Path) -> None:
    rows = stage_rows(ExportType.SALES, filters={"date_from": "2099-01-01"})
    assert rows.expected_rows == 0
    path = render(rows, tmp_path / "out.xlsx")
    sheet = openpyxl.load_workbook(path)["Data"]
    assert sheet.max_row == 1
    assert sheet.auto_filter.ref == f"A1:{get_column_letter(len(rows.schema))}1"
    assert about(path)["Rows"] == ["0"]


def test_rows_continue_on_next_sheets(tmp_path: Path) -> None:
    ids = list(range(20))
    rows = stage(tmp_path / "ids.arrow", [catalog.integer("position")], {"position": ids})
    path = render(rows, tmp_path / "out.xlsx", sheet_rows=7)
    workbook = openpyxl.load_workbook(path)
    assert workbook.sheetnames == ["Data", "Data (2)", "Data (3)", "About"]
    read: list[object] = []
    for name, count in [("Data", 7), ("Data (2)", 7), ("Data (3)", 6)]:
        sheet: Worksheet = workbook[name]
        assert [cell.value for cell in sheet[1]] == ["Position"]
        assert sheet["A1"].font.b
        assert sheet.freeze_panes == "A2"
        assert sheet.auto_filter.ref == f"A1:A{count + 1}"
        assert sheet.sheet_view.tabSelected == (name == "Data")
        read += [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert read == ids
    assert about(path)["Sheets"] == ["Data, Data (2), Data (3)"]


@pytest.mark.slow
def test_rows_past_excels_limit_continue_on_a_second_sheet(tmp_path: Path) -> None:
    total = excel.SHEET_DATA_ROWS + 10
    ids = pa.array(np.arange(total, dtype=np.int64))
    columns = [catalog.integer("position"), catalog.flag("even")]
    schema = catalog.arrow_schema(columns)
    batch = pa.RecordBatch.from_arrays([ids, pa.array(np.arange(total) % 2 == 0)], schema=schema)
    rows = rows_of((batch.slice(start, 65_536) for start in range(0, total, 65_536)), schema)
    started = time.perf_counter()
    path = render(rows, tmp_path / "out.xlsx")
    print(f"rendered {total:,} rows in {time.perf_counter() - started:.1f} s")

    workbook = CalamineWorkbook.from_path(path)
    assert workbook.sheet_names == ["Data", "Data (2)", "About"]
    first = workbook.get_sheet_by_name("Data").to_python()
    second = workbook.get_sheet_by_name("Data (2)").to_python()
    assert first[0] == second[0] == ["Position", "Even"]
    assert len(first) - 1 == excel.SHEET_DATA_ROWS
    assert len(second) - 1 == 10
    assert [row[0] for row in first[1:]] == list(range(excel.SHEET_DATA_ROWS))
    assert first[-1] == [excel.SHEET_DATA_ROWS - 1, True]  # 1,048,574 is even
    assert [row[0] for row in second[1:]] == list(range(excel.SHEET_DATA_ROWS, total))
    assert about(path)["Rows"] == [str(total)]


def test_an_error_from_the_batches_propagates(stage_rows: StageRows, tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    seen: list[int] = []

    def on_batch(handed_on: int) -> None:
        seen.append(handed_on)
        if handed_on >= 1000:
            raise Cancelled

    staged = stage_rows(ExportType.SALES, batch_rows=500)
    rows = replace(staged, on_batch=on_batch)
    with pytest.raises(Cancelled):
        render(rows, tmp_path / "out.xlsx")
    assert seen == [500, 1000]


def test_sheet_rows_must_fit_a_sheet(stage_rows: StageRows, tmp_path: Path) -> None:
    rows = stage_rows(ExportType.SALES)
    with pytest.raises(ValueError, match="sheet_rows"):
        render(rows, tmp_path / "out.xlsx", sheet_rows=excel.SHEET_DATA_ROWS + 1)


def test_a_type_outside_the_catalog_is_refused(tmp_path: Path) -> None:
    schema = pa.schema([pa.field("ratio", pa.float64())])
    rows = rows_of([pa.record_batch([pa.array([0.5])], schema=schema)], schema)
    with pytest.raises(TypeError, match="ratio"):
        render(rows, tmp_path / "out.xlsx")
