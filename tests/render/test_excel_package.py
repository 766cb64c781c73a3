"""The .xlsx package exportflow writes, part by part, against one XlsxWriter writes of the same rows.

ECMA-376's XSDs are not at hand, so XlsxWriter (constant_memory mode, a streaming writer like
ours, given the same rows, sheet names, formats, frozen header and autofilters) is the reference:
its parts' content types, relationship types, element order and styles are what ours must match,
and every structural rule checked on ours is checked on XlsxWriter's workbook too. Where ours
legitimately differs (no theme or document properties, no `dimension`, no cell references, an
empty `<c/>` for NULL), the difference is asserted, not skipped. Neither writes shared strings: both
write inline strings. XML 1.0's character rules are enforced by parsing every part.

Dates outside Excel's calendar (written as text) are left to test_excel.py.
"""

import math
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree
from xml.etree.ElementTree import Element

import openpyxl
import pyarrow as pa
import pytest
import xlsxwriter
from openpyxl.utils import column_index_from_string, coordinate_to_tuple, get_column_letter
from python_calamine import CalamineWorkbook

from flows.catalog import model as catalog
from flows.render import RenderOptions, header_names
from flows.render.excel.cells import CELL_TEXT_LIMIT
from flows.render.excel.workbook import SHEET_DATA_ROWS, sheet_name
from flows.render.rows import Rows
from tests.render.test_excel import expected_format, expected_value, render, stage

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
CONTENT_TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
WORKSHEET_RELATION = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"

ONLY_XLSXWRITER_PARTS = {"docProps/app.xml", "docProps/core.xml", "xl/theme/theme1.xml"}
"""Optional parts exportflow does not write: document properties and a theme (its fonts name no theme)."""
ONLY_XLSXWRITER_ELEMENTS = {
    "workbook": {"fileVersion", "workbookPr", "calcPr"},
    "styleSheet": {"dxfs", "tableStyles"},
    "worksheet": {"dimension", "pageMargins"},
}
"""Optional children exportflow leaves out. `dimension` would have to precede the rows, and a sheet's
head is deflated before its rows are known; its page margins are the defaults."""
BUILT_IN_FORMATS = {0: "General", 1: "0"}
"""The built-in number formats XlsxWriter refers to by id (it maps the code "0" to id 1)."""
CUSTOM_FORMATS_FROM = 164
CELL_TYPES = {"b", "d", "e", "inlineStr", "n", "s", "str"}
FORBIDDEN_IN_SHEET_NAMES = re.compile(r"[\[\]:*?/\\]")
EXCEL_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")
CELL_REFERENCE = re.compile(r"([A-Z]+)([0-9]+)")
SPLIT_ROWS = 7
OPTIONS = RenderOptions(title="Odd values", filters={"region": ["EMEA"]})

COLUMNS = [
    catalog.text("note"),
    catalog.integer("n"),
    catalog.money("amount"),
    catalog.percent("share", "Share"),
    catalog.number("weight", scale=3),
    catalog.day("day"),
    catalog.instant("at"),
    catalog.flag("ok"),
    catalog.text("code"),
]
NOTES: list[str | None] = [
    "plain",
    "ctl \x00\x01\x08\x0b\x0c\x0e\x1f\x7f end",
    "tab\tline\nfeed\rreturn\r\n",
    "<>&\"'",
    "=SUM(A1:A2)",
    "+1",
    "-1",
    "@user",
    "x" * CELL_TEXT_LIMIT,
    "y" * (CELL_TEXT_LIMIT + 1),
    "é" * (CELL_TEXT_LIMIT - 1) + "👍",  # 32,768 UTF-16 units: the emoji is cut
    "astral 👍🏽 𝄞 😀",
    "",
    "  padded  ",
    "_x0041_ literal, \ufffe\uffff non-characters",
    None,
]
ROWS = len(NOTES)


def _column_values() -> dict[str, list[object]]:
    cycle = range(ROWS)
    return {
        "note": list(NOTES),
        "n": [None if i == 3 else (-1) ** i * i * 1000 for i in cycle],
        "amount": [None if i == 4 else Decimal(f"{(-1) ** i * i * 1234.5:.2f}") for i in cycle],
        "share": [None if i == 5 else Decimal(i * 7) / 4 for i in cycle],
        "weight": [None if i == 6 else Decimal(i) / 8 for i in cycle],
        "day": [None if i == 7 else date(1900 + i * 500, 3, 1 + i) for i in cycle],
        "at": [
            None if i == 8 else datetime(1970 + i * 7, 1 + i % 12, 1, i, 59, 59, i * 1000, tzinfo=UTC)
            for i in cycle
        ],
        "ok": [None if i == 9 else i % 2 == 0 for i in cycle],
        "code": [None if i == 15 else f"c{i}" for i in cycle],
    }


@dataclass(frozen=True)
class Package:
    """An .xlsx zip's parts by name, each XML part parsed (which rejects what XML 1.0 forbids)."""

    parts: dict[str, Element]

    @classmethod
    def read(cls, path: Path) -> "Package":
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if not name.endswith("/")]
            assert len(names) == len(set(names)), "a part twice in the zip"
            return cls({name: ElementTree.fromstring(archive.read(name)) for name in names})

    def content_types(self) -> dict[str, str]:
        """Every part's content type (an Override, else the Default of its extension)."""
        types = self.parts["[Content_Types].xml"]
        defaults = {item.get("Extension", "").lower(): item.get("ContentType", "") for item in types}
        overrides = {
            item.get("PartName", "").lstrip("/"): item.get("ContentType", "")
            for item in types.iter(f"{CONTENT_TYPES}Override")
        }
        assert overrides.keys() <= self.parts.keys(), "an Override names no part"
        parts = self.parts.keys() - {"[Content_Types].xml"}
        found = {part: overrides.get(part) or defaults.get(part.rsplit(".", 1)[-1].lower()) for part in parts}
        assert all(found.values()), f"parts without a content type: {found}"
        return {part: kind for part, kind in found.items() if kind}

    def relationships(self, source: str) -> dict[str, tuple[str, str]]:
        """Id → (Type, target part) of a part's relationships ("" for the package's own)."""
        folder, name = posixpath.split(source)
        rels = self.parts[posixpath.join(folder, "_rels", f"{name}.rels")]
        items = list(rels.iter(f"{PACKAGE_REL}Relationship"))
        ids = [item.get("Id", "") for item in items]
        assert len(ids) == len(set(ids)), f"relationship ids repeat in {source or 'the package'}"
        found = {
            item.get("Id", ""): (
                item.get("Type", ""),
                posixpath.normpath(posixpath.join(folder, item.get("Target", ""))).lstrip("/"),
            )
            for item in items
        }
        assert {target for _, target in found.values()} <= self.parts.keys(), found
        return found

    def sheets(self) -> list[tuple[str, Element]]:
        """The sheets in workbook order: name and parsed part, each found through its r:id."""
        relations = self.relationships("xl/workbook.xml")
        kinds = self.content_types()
        sheets = []
        for sheet in self.parts["xl/workbook.xml"].iter(f"{MAIN}sheet"):
            kind, target = relations[sheet.get(f"{REL}id", "")]
            assert kind == WORKSHEET_RELATION
            assert kinds[target] == WORKSHEET_TYPE
            sheets.append((sheet.get("name", ""), self.parts[target]))
        return sheets

    def cell_formats(self) -> list[tuple[str, bool]]:
        """(number format code, bold) of each cellXfs entry."""
        styles = self.parts["xl/styles.xml"]
        codes = {
            int(item.get("numFmtId", "")): item.get("formatCode", "") for item in styles.iter(f"{MAIN}numFmt")
        }
        fonts = _child(styles, "fonts")
        formats = []
        for xf in _child(styles, "cellXfs"):
            number_format = int(xf.get("numFmtId", "0"))
            font = fonts[int(xf.get("fontId", "0"))]
            formats.append(
                (
                    codes.get(number_format) or BUILT_IN_FORMATS[number_format],
                    font.find(f"{MAIN}b") is not None,
                )
            )
        return formats


@dataclass(frozen=True)
class Workbooks:
    """One export as exportflow and as XlsxWriter write it."""

    ours: Path
    theirs: Path

    def packages(self) -> tuple[Package, Package]:
        return Package.read(self.ours), Package.read(self.theirs)


def write_with_xlsxwriter(rows: Rows, target: Path, about: dict[str, object], sheet_rows: int) -> None:
    """The rows as XlsxWriter writes them: header, formats, panes and autofilters as ours, then the
    About sheet's text (by cell reference) as ours has it."""
    schema = rows.schema
    values = pa.Table.from_batches(list(rows), schema=schema).to_pylist()
    with xlsxwriter.Workbook(str(target), {"constant_memory": True}) as book:
        bold = book.add_format({"bold": True})
        codes = [expected_format(column) for column in schema]
        formats = [book.add_format({"num_format": code}) if code != "General" else None for code in codes]
        for index, start in enumerate(range(0, max(len(values), 1), sheet_rows)):
            sheet = book.add_worksheet(sheet_name(index))
            sheet.set_column(0, len(schema) - 1, 12)
            sheet.write_row(0, 0, header_names(schema, RenderOptions()), bold)
            rows_here = values[start : start + sheet_rows]
            for row, record in enumerate(rows_here, start=1):
                for col, column in enumerate(schema):
                    if record[column.name] is not None:
                        _write(sheet, row, col, expected_value(record[column.name], column), formats[col])
            sheet.freeze_panes(1, 0)
            sheet.autofilter(0, 0, len(rows_here), len(schema) - 1)
        sheet = book.add_worksheet("About")
        cells = [(*coordinate_to_tuple(ref), str(text)) for ref, text in about.items()]
        sheet.set_column(0, max(col for _, col, _ in cells) - 1, 20)
        for row, col, text in cells:
            sheet.write_string(row - 1, col - 1, text, bold if col == 1 else None)


def _write(sheet: xlsxwriter.worksheet.Worksheet, row: int, col: int, value: object, style: object) -> None:
    if isinstance(value, str):
        sheet.write_string(row, col, value, style)  # never write(): it would take "=..." for a formula
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value, style)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value, style)
    else:
        sheet.write_number(row, col, value, style)


@pytest.fixture(scope="module", params=["one sheet", "split", "no rows, no numbers"])
def workbooks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Workbooks:
    """All the column kinds and odd values on one sheet, the same split SPLIT_ROWS rows a sheet, and
    an empty export of text and booleans only."""
    folder = tmp_path_factory.mktemp("package")
    columns, values = COLUMNS, _column_values()
    if request.param == "no rows, no numbers":
        columns = [column for column in COLUMNS if column.name in {"note", "ok"}]
        values = {column.name: [] for column in columns}
    sheet_rows = SPLIT_ROWS if request.param == "split" else SHEET_DATA_ROWS
    rows = stage(folder / "rows.arrow", columns, values)
    ours = render(rows, folder / "ours.xlsx", OPTIONS, sheet_rows=sheet_rows)
    _, about_sheet = Package.read(ours).sheets()[-1]
    about = {ref: value for ref, _, _, value in _values_of(about_sheet)}
    theirs = folder / "xlsxwriter.xlsx"
    write_with_xlsxwriter(rows, theirs, about, sheet_rows)
    return Workbooks(ours, theirs)


def test_every_part_has_the_content_type_xlsxwriter_gives_it(workbooks: Workbooks) -> None:
    ours, theirs = (package.content_types() for package in workbooks.packages())
    assert theirs.keys() - ours.keys() == ONLY_XLSXWRITER_PARTS
    assert ours.keys() <= theirs.keys()
    assert ours == {part: theirs[part] for part in ours}


def test_relationships_resolve_with_xlsxwriters_types(workbooks: Workbooks) -> None:
    ours, theirs = workbooks.packages()
    for source in ["", "xl/workbook.xml"]:
        our_types = {target: kind for kind, target in ours.relationships(source).values()}
        their_types = {target: kind for kind, target in theirs.relationships(source).values()}
        assert our_types == {
            target: kind for target, kind in their_types.items() if target not in ONLY_XLSXWRITER_PARTS
        }


def test_workbook_lists_the_sheets_and_filters_as_xlsxwriter_does(workbooks: Workbooks) -> None:
    ours, theirs = workbooks.packages()
    for package in (ours, theirs):
        sheets = list(package.parts["xl/workbook.xml"].iter(f"{MAIN}sheet"))
        names = [sheet.get("name", "") for sheet in sheets]
        assert len({name.casefold() for name in names}) == len(names)
        assert all(0 < len(name) <= 31 and not FORBIDDEN_IN_SHEET_NAMES.search(name) for name in names)
        assert all(not name.startswith("'") and not name.endswith("'") for name in names)
        ids = [sheet.get("sheetId") for sheet in sheets]
        assert len(set(ids)) == len(ids)
    assert [name for name, _ in ours.sheets()] == [name for name, _ in theirs.sheets()]
    assert _filter_names(ours) == _filter_names(theirs)  # XlsxWriter sorts them by quoted sheet name
    assert_in_order(ours.parts["xl/workbook.xml"], theirs.parts["xl/workbook.xml"])


def _filter_names(package: Package) -> list[tuple[int, str]]:
    """(sheet index, range) of each autofilter's hidden _FilterDatabase name, checked against the
    sheet it belongs to: its name and its autoFilter's range."""
    sheets = package.sheets()
    found = []
    for name in package.parts["xl/workbook.xml"].iter(f"{MAIN}definedName"):
        assert name.get("name") == "_xlnm._FilterDatabase"
        assert name.get("hidden") == "1"
        index = int(name.get("localSheetId", ""))
        sheet, cells = (name.text or "").rsplit("!", 1)
        if sheet.startswith("'"):
            assert sheet.endswith("'")
            sheet = sheet[1:-1].replace("''", "'")
        title, part = sheets[index]
        assert sheet == title
        assert re.fullmatch(r"\$[A-Z]+\$[0-9]+:\$[A-Z]+\$[0-9]+", cells), cells
        auto_filter = part.find(f"{MAIN}autoFilter")
        assert auto_filter is not None
        assert auto_filter.get("ref") == cells.replace("$", "")
        found.append((index, cells))
    assert len({index for index, _ in found}) == len(found)
    return sorted(found)


def test_styles_follow_xlsxwriters(workbooks: Workbooks) -> None:
    ours, theirs = workbooks.packages()
    assert_in_order(ours.parts["xl/styles.xml"], theirs.parts["xl/styles.xml"])
    for package in (ours, theirs):
        styles = package.parts["xl/styles.xml"]
        for element in styles.iter():
            if "count" in element.attrib:
                assert int(element.get("count", "")) == len(element), element.tag
        format_ids = [int(item.get("numFmtId", "")) for item in styles.iter(f"{MAIN}numFmt")]
        assert all(number >= CUSTOM_FORMATS_FROM for number in format_ids)
        assert len(set(format_ids)) == len(format_ids)
        for xf in _child(styles, "cellXfs"):
            number_format = int(xf.get("numFmtId", ""))
            assert number_format < CUSTOM_FORMATS_FROM or number_format in format_ids
            for attribute, table in [
                ("fontId", "fonts"),
                ("fillId", "fills"),
                ("borderId", "borders"),
                ("xfId", "cellStyleXfs"),
            ]:
                assert int(xf.get(attribute, "")) < len(_child(styles, table)), attribute
        used = {int(cell.get("s", "0")) for _, sheet in package.sheets() for cell in sheet.iter(f"{MAIN}c")}
        assert max(used) < len(_child(styles, "cellXfs"))
    for same in ["fonts", "fills", "borders", "cellStyleXfs", "cellStyles"]:  # fills: none, gray125
        mine, reference = (_child(package.parts["xl/styles.xml"], same) for package in (ours, theirs))
        if same == "fonts":  # XlsxWriter's fonts name its theme's color and font scheme; ours has no theme
            for font in reference:
                for themed in font.findall(f"{MAIN}color[@theme]") + font.findall(f"{MAIN}scheme"):
                    font.remove(themed)
        assert ElementTree.tostring(mine) == ElementTree.tostring(reference), same


def test_worksheets_are_built_as_xlsxwriters(workbooks: Workbooks) -> None:
    ours, theirs = workbooks.packages()
    for (name, mine), (_, reference) in zip(ours.sheets(), theirs.sheets(), strict=True):
        assert_in_order(mine, reference)
        for sheet in (mine, reference):
            assert_rows_and_cells_well_formed(sheet)
        assert all("r" not in cell.attrib for cell in mine.iter(f"{MAIN}c")), "ours numbers no cell"
        assert all("r" in cell.attrib for cell in reference.iter(f"{MAIN}c"))
        dimension = reference.find(f"{MAIN}dimension")
        assert dimension is not None
        assert dimension.get("ref") == _span(ref for ref, _ in sheet_cells(reference))
        mine_view, their_view = (_child(sheet, "sheetViews")[0] for sheet in (mine, reference))
        assert mine_view.get("tabSelected", "0") == their_view.get("tabSelected", "0")
        panes = [view.find(f"{MAIN}pane") for view in (mine_view, their_view)]
        assert [pane.attrib if pane is not None else None for pane in panes] == [
            {"ySplit": "1", "topLeftCell": "A2", "activePane": "bottomLeft", "state": "frozen"}
            if name != "About"
            else None
        ] * 2
        filters = [sheet.find(f"{MAIN}autoFilter") for sheet in (mine, reference)]
        if name == "About":
            assert filters == [None, None]
            continue
        header = _child(mine, "sheetData")[0]
        last_row = _child(mine, "sheetData")[-1].get("r")
        assert [item.get("ref") if item is not None else None for item in filters] == [
            f"A1:{get_column_letter(len(header))}{last_row}"
        ] * 2


def test_cells_are_xlsxwriters(workbooks: Workbooks) -> None:
    """Cell by cell: type, value, number format and boldness. For NULL XlsxWriter writes no cell,
    ours an empty `<c/>`. Numbers within 1e-15: XlsxWriter writes 16 significant digits, which do not
    always give back the double; ours writes the shortest digits that do."""
    ours, theirs = workbooks.packages()
    formats = [package.cell_formats() for package in (ours, theirs)]
    for (name, mine), (_, reference) in zip(ours.sheets(), theirs.sheets(), strict=True):
        written, expected = (
            {
                ref: (kind, value, style_of[int(cell.get("s", "0"))])
                for ref, cell, kind, value in _values_of(sheet)
            }
            for sheet, style_of in zip((mine, reference), formats, strict=True)
        )
        assert written.keys() == expected.keys(), name
        empty = [(ref, cell) for ref, cell in sheet_cells(mine) if ref not in written]
        assert all(not cell.attrib and not len(cell) for _, cell in empty), name
        assert {ref for ref, _ in empty}.isdisjoint(ref for ref, _ in sheet_cells(reference)), name
        for ref, (kind, value, style) in written.items():
            their_kind, their_value, their_style = expected[ref]
            assert (kind, style) == (their_kind, their_style), (name, ref)
            if kind == "n":
                assert isinstance(value, float)
                assert isinstance(their_value, float)
                assert math.isclose(value, their_value, rel_tol=1e-15), (name, ref)
            else:
                assert value == their_value, (name, ref)


def _values_of(sheet: Element) -> Iterator[tuple[str, Element, str, object]]:
    """(reference, cell, type, value) of the cells holding a value."""
    for ref, cell in sheet_cells(sheet):
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            yield ref, cell, kind, excel_text(cell)
        elif (value := cell.findtext(f"{MAIN}v")) is not None:
            yield ref, cell, kind, float(value) if kind == "n" else value


def test_readers_read_the_same_values_from_both(workbooks: Workbooks) -> None:
    """openpyxl and python-calamine, sheet by sheet. openpyxl leaves undecoded the `_x000D_`
    XlsxWriter writes for a carriage return (ours writes `&#13;`, which XML parsers decode)."""
    for read in (_read_with_openpyxl, _read_with_calamine):
        ours, theirs = read(workbooks.ours), read(workbooks.theirs)
        if read is _read_with_openpyxl:
            theirs = {name: _carriage_returns(rows) for name, rows in theirs.items()}
        assert ours.keys() == theirs.keys()
        for name in ours:
            assert ours[name] == theirs[name], (read.__name__, name)


def _carriage_returns(rows: Sequence[Sequence[object]]) -> list[list[object]]:
    return [
        [value.replace("_x000D_", "\r") if isinstance(value, str) else value for value in row] for row in rows
    ]


def _read_with_openpyxl(path: Path) -> dict[str, Sequence[Sequence[object]]]:
    book = openpyxl.load_workbook(path)
    return {
        sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets
    }


def _read_with_calamine(path: Path) -> dict[str, Sequence[Sequence[object]]]:
    book = CalamineWorkbook.from_path(path)
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def assert_in_order(ours: Element, reference: Element) -> None:
    """Our element's children come in the order XlsxWriter writes them (the schema's sequence), and
    the only ones XlsxWriter writes that we leave out are the known optional ones."""
    tag = _local(ours.tag)
    order = list(dict.fromkeys(_local(child.tag) for child in reference))
    mine = list(dict.fromkeys(_local(child.tag) for child in ours))
    assert set(mine) <= set(order), f"{tag}: {set(mine) - set(order)} unknown to XlsxWriter"
    assert mine == [name for name in order if name in mine], f"{tag} children out of order"
    assert set(order) - set(mine) == ONLY_XLSXWRITER_ELEMENTS[tag]


def assert_rows_and_cells_well_formed(sheet: Element) -> None:
    """Rows numbered in increasing order, cells left to right on their row, valid cell types with
    content to match, no text beyond Excel's cell limit."""
    rows = [int(row.get("r", "")) for row in _child(sheet, "sheetData")]
    assert rows == sorted(set(rows))
    assert rows[0] >= 1
    for _, cell in sheet_cells(sheet):
        kind = cell.get("t", "n")
        assert kind in CELL_TYPES
        assert (cell.find(f"{MAIN}is") is not None) == (kind == "inlineStr")
        value = cell.findtext(f"{MAIN}v")
        if kind == "b":
            assert value in {"0", "1"}
        elif kind == "n" and value is not None:
            assert math.isfinite(float(value))
        elif kind == "inlineStr":
            assert len(excel_text(cell).encode("utf-16-le")) // 2 <= CELL_TEXT_LIMIT
            for text in cell.iter(f"{MAIN}t"):
                if (text.text or "") != (text.text or "").strip():
                    assert text.get(XML_SPACE) == "preserve", "spaces a reader would strip"


def sheet_cells(sheet: Element) -> Iterator[tuple[str, Element]]:
    """(reference, cell) of every cell of the sheet, row by row."""
    for row in _child(sheet, "sheetData"):
        yield from row_cells(row)


def row_cells(row: Element) -> Iterator[tuple[str, Element]]:
    """(reference, cell) of a row's cells: a cell without `r` is the one after the previous cell.
    Asserts that the references are on this row and increase along it."""
    column = 0
    for cell in row:
        ref = cell.get("r") or f"{get_column_letter(column + 1)}{row.get('r')}"
        found = CELL_REFERENCE.fullmatch(ref)
        assert found, ref
        assert found[2] == row.get("r"), f"{ref} on row {row.get('r')}"
        assert column_index_from_string(found[1]) > column, f"{ref} out of order"
        column = column_index_from_string(found[1])
        yield ref, cell


def excel_text(cell: Element) -> str:
    """An inline string's text as Excel reads it, `_xHHHH_` escapes decoded."""
    text = "".join(_child(cell, "is").itertext())
    return EXCEL_ESCAPE.sub(lambda found: chr(int(found[1], 16)), text)


def _span(refs: Iterable[str]) -> str:
    """The smallest range holding these cells, as a `dimension` ref ("A1" for a single cell)."""
    found = [match for ref in refs if (match := CELL_REFERENCE.fullmatch(ref))]
    columns = [column_index_from_string(item[1]) for item in found]
    rows = [int(item[2]) for item in found]
    first, last = (
        f"{get_column_letter(min(columns))}{min(rows)}",
        f"{get_column_letter(max(columns))}{max(rows)}",
    )
    return first if first == last else f"{first}:{last}"


def _child(element: Element, name: str) -> Element:
    found = element.find(f"{MAIN}{name}")
    assert found is not None, f"no {name} in {_local(element.tag)}"
    return found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
