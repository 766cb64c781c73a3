"""The PDF report read back with pypdf: pages, header and page numbers, intro, values, scripts, fonts."""

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from pypdf import PdfReader
from pypdf.generic import DictionaryObject, PdfObject

from flows.pipeline.sources import Source
from flows.render import RenderOptions, header_names
from flows.render.pdf import render
from flows.render.rows import Rows
from flows.vocabulary import ExportType
from tests.conftest import StageRows, rows_of

GENERATED_AT = datetime(2026, 1, 2, 10, 0, 5, tzinfo=UTC)
PAGE_NUMBER = re.compile(r"Page (\d+) of (\d+)")
ELLIPSIS = "\u2026"
# Few enough rows for quick text extraction, yet several pages for the bigger types.
RECENT = {"date_from": "2026-10-01"}
SMALL_TYPES = {ExportType.STAFF, ExportType.MARKETING, ExportType.PAYROLL, ExportType.CUSTOMERS}


def options(export_type: str = "sales", **changes: object) -> RenderOptions:
    values: dict[str, object] = {
        "title": f"{export_type.title()} export",
        "export_type": export_type,
        "filters": {},
        "generated_at": GENERATED_AT,
        "requester_timezone": "Europe/Paris",
    } | changes
    return RenderOptions(**values)


def render_pages(staged: Rows, path: Path, render_options: RenderOptions) -> list[str]:
    """Render, then the text of each page as pypdf extracts it."""
    render(staged, path, render_options)
    return [page.extract_text() for page in PdfReader(path).pages]


def flat(text: str) -> str:
    return " ".join(text.split())


def shown(value: object, field: pa.Field) -> str | None:
    """How the report should show a value, worked out independently; None for blanks and for text
    outside Latin, Greek and Cyrillic (the script tests cover that)."""
    display = field.metadata[b"format"].decode()
    if value is None:
        return None
    if isinstance(value, Decimal):
        decimals = max(2, field.type.scale) if display == "currency" else field.type.scale
        return f"{value:,.{decimals}f}" + ("%" if display == "percent" else "")
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    if isinstance(value, date | int):
        return str(value)
    assert isinstance(value, str)
    plain = all(ch.isprintable() and (ord(ch) < 0x250 or 0x370 <= ord(ch) < 0x530) for ch in value)
    return value.strip() if plain and value.strip() and unicodedata.is_normalized("NFC", value) else None


def assert_shown(expected: str, page_text: str) -> None:
    """The value is on the page, whole or cut with an ellipsis (each cell is a line of its own)."""
    lines = {line.strip() for line in page_text.splitlines()}
    cut = [line[:-1].rstrip() for line in lines if line.endswith(ELLIPSIS) and len(line) > 1]
    assert expected in lines or any(expected.startswith(prefix) for prefix in cut), expected


def check_report(staged: Rows, pages: Sequence[str], render_options: RenderOptions) -> None:
    numbers = [tuple(map(int, PAGE_NUMBER.findall(text)[-1])) for text in pages]
    assert numbers == [(index + 1, len(pages)) for index in range(len(pages))]
    for text in pages:
        for label in header_names(staged.schema, render_options):
            assert flat(label) in flat(text)
    first = flat(pages[0])
    assert render_options.title in first
    assert "Generated: 2026-01-02 10:00:05 UTC (2026-01-02 11:00:05 CET, Europe/Paris)" in first
    assert f"Rows: {staged.expected_rows:,}" in first
    for name, value in render_options.filters.items():
        assert f"{name}: {value}" in first
    rows = next(iter(staged)).slice(0, 10).to_pylist() if staged.expected_rows else []
    for row in rows:
        for field in staged.schema:
            expected = shown(row[field.name], field)
            if expected is not None:
                assert_shown(expected, pages[0])


@pytest.mark.parametrize("export_type", list(ExportType))
def test_every_export_type_from_duckdb(
    stage_rows: StageRows, tmp_path: Path, export_type: ExportType
) -> None:
    filters = {} if export_type in SMALL_TYPES else RECENT
    staged = stage_rows(export_type, filters=filters, batch_rows=37)
    assert staged.expected_rows > 0
    render_options = options(export_type.value, filters=filters)
    pages = render_pages(staged, tmp_path / "report.pdf", render_options)
    check_report(staged, pages, render_options)


def test_sales_from_postgresql(stage_rows: StageRows, postgres_warehouse: Source, tmp_path: Path) -> None:
    staged = stage_rows("sales", source=postgres_warehouse, filters=RECENT)
    render_options = options(filters=RECENT)
    pages = render_pages(staged, tmp_path / "report.pdf", render_options)
    assert len(pages) > 1
    check_report(staged, pages, render_options)


def staged_file(tmp_path: Path, columns: dict[str, tuple[pa.DataType, str, list[object]]]) -> Rows:
    """Rows of one batch: column name -> (type, display format, values)."""
    fields = [
        pa.field(name, kind, metadata={"label": name.replace("_", " ").title(), "format": display})
        for name, (kind, display, _) in columns.items()
    ]
    schema = pa.schema(fields)
    batch = pa.record_batch([pa.array(values, kind) for kind, _, values in columns.values()], schema=schema)
    return rows_of([batch], schema)


def texts(values: list[object]) -> tuple[pa.DataType, str, list[object]]:
    return pa.string(), "text", values


def test_latin_greek_cyrillic_are_text_and_missing_glyphs_become_one_placeholder(tmp_path: Path) -> None:
    staged = staged_file(
        tmp_path,
        {
            "name": texts(
                [
                    "Zoë Núñez",
                    "Łukasz Żółć",
                    "Zoe\u0308 combining",
                    "Дмитрий Иванов",
                    "Ελληνικά αβγ",
                    "山田 太郎",
                    "Ana 🌟 Star",
                    "👨\u200d👩\u200d👧 Family",
                    "محمد العلي",
                    "דוד כהן",
                    "Tab\tand\nnew line",
                    None,
                ]
            )
        },
    )
    lines = [line.strip() for line in render_pages(staged, tmp_path / "r.pdf", options())[0].splitlines()]
    for value in ["Zoë Núñez", "Łukasz Żółć", "Zoë combining", "Дмитрий Иванов", "Ελληνικά αβγ"]:
        assert value in lines
    for value in ["\ufffd \ufffd", "Ana \ufffd Star", "\ufffd Family", "Tab and new line"]:
        assert value in lines
    assert lines.count("\ufffd \ufffd") == 3  # CJK, Arabic and Hebrew names: one placeholder a word


def test_long_text_is_cut_with_an_ellipsis_and_the_row_height_kept(tmp_path: Path) -> None:
    long_note = "Long note: " + "The quick brown fox jumps over Zoë's lazy dog. " * 200
    staged = staged_file(tmp_path, {"note": texts([long_note, "short"]), "n": (pa.int64(), "number", [1, 2])})
    lines = [line.strip() for line in render_pages(staged, tmp_path / "r.pdf", options())[0].splitlines()]
    cut = [line for line in lines if line.startswith("Long note: The quick")]
    assert len(cut) == 1
    assert cut[0].endswith(ELLIPSIS)
    assert 20 < len(cut[0]) < 400
    assert "short" in lines


def test_numbers_are_formatted_right_aligned_and_null_is_blank(tmp_path: Path) -> None:
    staged = staged_file(
        tmp_path,
        {
            "total": (pa.decimal128(18, 2), "currency", [Decimal("1234567.5"), Decimal("-446.52"), None]),
            "unit_cost": (pa.decimal128(18, 4), "currency", [Decimal("0.0123"), Decimal("2"), Decimal("0")]),
            "margin": (pa.decimal128(18, 2), "percent", [Decimal("12.5"), Decimal("-3"), Decimal("100")]),
            "fiscal_year": (pa.int64(), "number", [2026, None, 1999]),
            "sold_at": (
                pa.timestamp("us", tz="UTC"),
                "datetime",
                [datetime(2025, 3, 1, 14, 22, 5, 999_999, tzinfo=UTC), None, None],
            ),
            "day": (pa.date32(), "date", [date(2025, 3, 1), None, date(1999, 12, 31)]),
            "active": (pa.bool_(), "boolean", [True, False, None]),
        },
    )
    path = tmp_path / "r.pdf"
    text = render_pages(staged, path, options())[0]
    lines = {line.strip() for line in text.splitlines()}
    expected = {"1,234,567.50", "-446.52", "0.0123", "2.0000", "12.50%", "-3.00%", "100.00%", "2026", "1999"}
    assert expected <= lines
    assert {"2025-03-01 14:22:05 UTC", "2025-03-01", "1999-12-31", "Yes", "No"} <= lines
    assert "None" not in text

    starts: dict[str, float] = {}

    def visit(value: str, _: object, matrix: Sequence[float], *__: object) -> None:
        if value.strip():
            starts[value.strip()] = matrix[4]

    PdfReader(path).pages[0].extract_text(visitor_text=visit)
    assert starts["1,234,567.50"] < starts["-446.52"]  # right-aligned: the longer starts further left
    assert starts["2026"] == starts["1999"]


def test_landscape_for_many_columns_portrait_for_few(stage_rows: StageRows, tmp_path: Path) -> None:
    few = stage_rows("sales", columns=["order_number", "sale_date", "total_amount"], filters=RECENT)
    many = stage_rows("sales", filters=RECENT)
    for staged, landscape in ((few, False), (many, True)):
        path = tmp_path / f"{landscape}.pdf"
        render(staged, path, options())
        box = PdfReader(path).pages[0].mediabox
        assert (box.width > box.height) is landscape


def test_the_font_is_embedded(stage_rows: StageRows, tmp_path: Path) -> None:
    path = tmp_path / "r.pdf"
    render(stage_rows("customers"), path, options("customers"))
    fonts = dictionary(dictionary(PdfReader(path).pages[0]["/Resources"])["/Font"])
    assert fonts
    for reference in fonts.values():
        font = dictionary(reference)
        assert "NotoSans" in str(font["/BaseFont"])
        assert "/FontFile2" in dictionary(font["/FontDescriptor"])


def dictionary(item: PdfObject) -> DictionaryObject:
    resolved = item.get_object()
    assert isinstance(resolved, DictionaryObject)
    return resolved


def test_no_rows_make_one_page_with_header(tmp_path: Path) -> None:
    staged = staged_file(tmp_path, {"name": texts([])})
    pages = render_pages(staged, tmp_path / "r.pdf", options(title="Empty"))
    assert len(pages) == 1
    assert all(part in pages[0] for part in ("Empty", "Name", "No rows.", "Page 1 of 1"))


def test_an_error_while_reading_batches_propagates(stage_rows: StageRows, tmp_path: Path) -> None:
    staged = stage_rows("sales", batch_rows=500)

    def cancel(rows: int) -> None:
        if rows >= 1000:
            raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        render(replace(staged, on_batch=cancel), tmp_path / "r.pdf", options())


def test_a_row_count_other_than_announced_is_refused(tmp_path: Path) -> None:
    staged = staged_file(tmp_path, {"name": texts(["a", "b"])})
    wrong = replace(staged, expected_rows=1)
    with pytest.raises(ValueError, match="gave 2 rows"):
        render(wrong, tmp_path / "r.pdf", options())


def test_an_estimated_row_count_is_refused(tmp_path: Path) -> None:
    estimated = replace(staged_file(tmp_path, {"name": texts(["a", "b"])}), exact=False)
    with pytest.raises(ValueError, match="exact row count"):
        render(estimated, tmp_path / "r.pdf", options())
