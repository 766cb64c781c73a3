"""Rows/s of the Excel renderer against the XLSX writers one could build it on, on the same rows.

    uv run python benchmarks/excel_writers.py [--rows N] [--repeat R] [--writers NAME,NAME,...]

Generates N sales rows (default 200,000) into a temporary DuckDB warehouse, stages a 12-column
selection exactly as the flow does (integers, text, a UTC timestamp, a date, money, a percent),
then runs each writer R times (default 3; the fastest run counts, as other load on the machine
slows some) in a fresh subprocess on that staged file. Every writer reads the same batches,
writes typed cells (numbers, dates as Excel dates with a number format) and, where it can, a
bold frozen header with an autofilter. Prints one table: rows/s, the ratio to the fastest writer
and to xlsxwriter (constant_memory, typed write_* calls), peak RSS of the subprocess, file size,
and whether the writer streams batch by batch (constant memory) or needs every row at once.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from common import SALES_COLUMNS, save_rows, saved_rows

from flows.catalog.model import DisplayFormat
from flows.catalog.query import build_query
from flows.demo_warehouse import generate_demo_data
from flows.pipeline.extract import stream_batches
from flows.pipeline.sources import parse_source
from flows.render import RenderOptions, display_format, excel, header_names
from flows.render.rows import Rows

COLUMNS = list(SALES_COLUMNS)
OURS = "exportflow"
BASELINE = "xlsxwriter"
NUMBER_FORMATS = {
    DisplayFormat.CURRENCY: "#,##0.00;[Red]-#,##0.00",
    DisplayFormat.PERCENT: "0.00%",
    DisplayFormat.DATE: excel.DATE_FORMAT,
    DisplayFormat.DATETIME: "yyyy-mm-dd hh:mm:ss",
}


@dataclass(frozen=True)
class Writer:
    write: Callable[[Rows, Path], None]
    streams: bool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="sales rows to generate and write")
    parser.add_argument("--repeat", type=int, default=3, help="runs per writer; the fastest counts")
    parser.add_argument(
        "--writers", default=",".join(WRITERS), help="comma-separated, of: " + ", ".join(WRITERS)
    )
    parser.add_argument("--child", choices=list(WRITERS), help=argparse.SUPPRESS)
    parser.add_argument("--staged", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.staged)
        return

    names = args.writers.split(",")
    with tempfile.TemporaryDirectory() as folder:
        staged = _stage(Path(folder), args.rows)
        runs = {name: [_run_child(name, staged) for _ in range(args.repeat)] for name in names}
    results = {
        name: min(done, key=lambda result: result["seconds"])
        for name, attempts in runs.items()
        if (done := [result for result in attempts if result is not None])
    }
    _print(args.rows, results)


def _stage(folder: Path, rows: int) -> Path:
    """The 12-column sales selection of a fresh demo warehouse, staged like the flow does."""
    source = parse_source(str(folder / "warehouse.duckdb"))
    generate_demo_data(source, rows=rows)
    query = build_query("sales", dialect=source.kind, columns=COLUMNS)
    path = folder / "sales.arrow"
    save_rows(stream_batches(source, query), query.arrow_schema, path)
    return path


def _run_child(name: str, staged: Path) -> dict[str, float] | None:
    command = [sys.executable, __file__, "--child", name, "--staged", str(staged)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode:
        print(f"{name} failed:\n{completed.stderr}", file=sys.stderr)
        return None
    result: dict[str, float] = json.loads(completed.stdout.splitlines()[-1])
    return result


def _child(name: str, staged: Path) -> None:
    """Write the staged rows with one writer; print seconds, peak RSS and file size as JSON."""
    rows = saved_rows(staged)
    target = staged.with_name(f"{name}.xlsx")
    started = time.perf_counter()
    WRITERS[name].write(rows, target)
    seconds = time.perf_counter() - started
    peak_mb = _peak_rss_kb() / 1024
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "file_mb": target.stat().st_size / 2**20}))


def _peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, it starts afresh at exec)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def _print(rows: int, results: dict[str, dict[str, float]]) -> None:
    speeds = {name: rows / result["seconds"] for name, result in results.items()}
    fastest = max(speeds.values())
    baseline = speeds.get(BASELINE)
    print(f"{rows:,} rows x {len(COLUMNS)} columns")
    print(
        f"{'writer':<22}{'streams':>8}{'rows/s':>10}{'/fastest':>10}{'/xlsxwriter':>12}"
        f"{'peak RSS':>10}{'file':>9}"
    )
    for name, speed in sorted(speeds.items(), key=lambda item: -item[1]):
        ratio = f"{speed / baseline:.1f}x" if baseline else "-"
        print(
            f"{name:<22}{'yes' if WRITERS[name].streams else 'no':>8}{speed:>10,.0f}{speed / fastest:>9.2f}x"
            f"{ratio:>12}{results[name]['peak_mb']:>7,.0f} MB{results[name]['file_mb']:>6,.1f} MB"
        )
    others = {name: speed for name, speed in speeds.items() if name != OURS}
    if OURS in speeds and others:
        rival = max(others, key=others.__getitem__)
        print(
            f"{OURS}: {speeds[OURS] / others[rival]:.2f}x the fastest other writer ({rival}; target >= 0.7x)"
            + (f", {speeds[OURS] / baseline:.1f}x {BASELINE} (target >= 5x)" if baseline else "")
        )


# The writers. All but ours get the same plain batches: decimals as float64 (percent points as
# the fraction), timestamps as naive UTC, which is what their typed paths take.


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    columns = []
    for column, values in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_decimal(column.type):
            values = pc.cast(pc.cast(values, pa.string()), pa.float64())
            if display_format(column) is DisplayFormat.PERCENT:
                values = pc.divide(values, 100.0)
        elif pa.types.is_timestamp(column.type):
            values = values.cast(pa.timestamp("us"))
        columns.append(values)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _plain_batches(rows: Rows) -> Iterator[pa.RecordBatch]:
    return (_plain(batch) for batch in rows)


def _formats(rows: Rows) -> list[str | None]:
    return [NUMBER_FORMATS.get(display_format(column)) for column in rows.schema]


def _python_rows(batch: pa.RecordBatch) -> list[tuple[object, ...]]:
    return list(zip(*(values.to_pylist() for values in batch.columns), strict=True))


def write_exportflow(rows: Rows, target: Path) -> None:
    excel.render(rows, target, RenderOptions(title="Sales", export_type="sales"))


def write_xlsxwriter(rows: Rows, target: Path) -> None:
    import xlsxwriter

    with xlsxwriter.Workbook(str(target), {"constant_memory": True}) as book:
        sheet = book.add_worksheet("Data")
        formats = [book.add_format({"num_format": code}) if code else None for code in _formats(rows)]
        sheet.write_row(0, 0, header_names(rows.schema, RenderOptions()), book.add_format({"bold": True}))
        kinds = [column.type for column in rows.schema]
        writes = [
            sheet.write_string
            if pa.types.is_string(kind)
            else sheet.write_datetime
            if pa.types.is_temporal(kind)
            else sheet.write_number
            for kind in kinds
        ]
        row = 0
        for batch in _plain_batches(rows):
            for values in _python_rows(batch):
                row += 1
                for col, value in enumerate(values):
                    if value is not None:
                        writes[col](row, col, value, formats[col])
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, row, len(kinds) - 1)


def write_jetxl(rows: Rows, target: Path) -> None:
    import jetxl

    table = pa.Table.from_batches(list(_plain_batches(rows)))
    formats = {name: code for name, code in zip(table.column_names, _formats(rows), strict=True) if code}
    jetxl.write_sheet_arrow(
        table,
        str(target),
        "Data",
        auto_filter=True,
        freeze_rows=1,
        styled_headers=True,
        column_formats=formats,
    )


def write_rvgsrust_xlsxwriter(rows: Rows, target: Path) -> None:
    import rvgsrust_xlsxwriter

    with rvgsrust_xlsxwriter.Workbook(str(target)) as book:
        sheet = book.add_worksheet("Data", constant_memory=True)
        bold = book.add_format()
        bold.set_bold()
        formats = {}
        for column, code in zip(rows.schema, _formats(rows), strict=True):
            if code:
                formats[column.name] = book.add_format()
                formats[column.name].set_num_format(code)
        sheet.write_row(0, 0, header_names(rows.schema, RenderOptions()), bold)
        row = 1
        for batch in _plain_batches(rows):
            sheet.write_dataframe(row, 0, batch, write_header=False, column_formats=formats)
            row += batch.num_rows
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, row - 1, len(rows.schema) - 1)


def write_rustpy_xlsxwriter(rows: Rows, target: Path) -> None:
    import rustpy_xlsxwriter

    formats = []
    for code in _formats(rows):
        formats.append(
            rustpy_xlsxwriter.Format().set_num_format(code) if code else rustpy_xlsxwriter.Format()
        )
    schema = _plain(pa.RecordBatch.from_pylist([], schema=rows.schema)).schema
    stream = pa.RecordBatchReader.from_batches(schema, _plain_batches(rows))
    rustpy_xlsxwriter.write_worksheet(
        stream, str(target), "Data", freeze_row=1, bold_headers=True, autofilter=True, column_formats=formats
    )


def write_fastxlsxio(rows: Rows, target: Path) -> None:
    import fastxlsxio  # type: ignore[import-untyped]

    book = fastxlsxio.XIOWWorkbook(str(target))
    sheet = book.add_worksheet("Data")
    formats = [book.add_format({"num_format": code}) if code else None for code in _formats(rows)]
    sheet.write_row(
        0, 0, header_names(rows.schema, RenderOptions()), [book.add_format({"bold": True})] * len(formats)
    )
    row = 1
    for batch in _plain_batches(rows):
        sheet.write_rows(row, 0, _python_rows(batch), formats)
        row += batch.num_rows
    book.save()


def write_fastxlsx(rows: Rows, target: Path) -> None:
    import fastxlsx

    book = fastxlsx.WriteOnlyWorkbook()
    sheet = book.create_sheet("Data")
    sheet.write_row((0, 0), header_names(rows.schema, RenderOptions()), dtype=fastxlsx.DType.Str)  # type: ignore[arg-type]
    row = 1
    for batch in _plain_batches(rows):
        for col, values in enumerate(batch.columns):
            sheet.write_column((row, col), values.to_pylist(), dtype=fastxlsx.DType.Any)  # type: ignore[arg-type]
        row += batch.num_rows
    book.save(str(target))


WRITERS = {
    "exportflow": Writer(write_exportflow, streams=True),
    "xlsxwriter": Writer(write_xlsxwriter, streams=True),
    "jetxl": Writer(write_jetxl, streams=False),
    "rvgsrust-xlsxwriter": Writer(write_rvgsrust_xlsxwriter, streams=True),
    "rustpy-xlsxwriter": Writer(write_rustpy_xlsxwriter, streams=True),
    "fastxlsxio": Writer(write_fastxlsxio, streams=True),
    "fastxlsx": Writer(write_fastxlsx, streams=False),
}


if __name__ == "__main__":
    main()
