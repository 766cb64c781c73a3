"""The anchors of benchmarks/formats.py: the same query written to each format by a reference engine
(DuckDB's COPY, psql's COPY TO STDOUT, XlsxWriter, the reportlab canvas), and the job they share."""

import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from common import SALES_COLUMNS

from flows.catalog.query import ExportQuery, build_query
from flows.pipeline.extract import postgres_statement
from flows.pipeline.sources import Source, duckdb_connection, parse_source
from flows.vocabulary import ExportFormat, ExportType

COLUMNS = SALES_COLUMNS
PDF_ROWS_PER_PAGE = 60


@dataclass(frozen=True)
class Job:
    """One measurement's inputs; picklable, for the fresh process that runs it."""

    export_format: ExportFormat
    source_url: str
    output: Path

    @property
    def source(self) -> Source:
        return parse_source(self.source_url)

    def query(self) -> ExportQuery:
        return build_query(ExportType.SALES, dialect=self.source.kind, columns=list(COLUMNS))


def duckdb_copy(job: Job, copy_options: str) -> None:
    query = job.query()
    with duckdb_connection(job.source, read_only=True) as connection:
        connection.execute("SET enable_progress_bar = false")
        connection.execute(f"COPY ({query.sql}) TO ? ({copy_options})", [*query.params, str(job.output)])


def duckdb_csv(job: Job) -> None:
    duckdb_copy(job, "FORMAT csv, HEADER true")


def duckdb_json(job: Job) -> None:
    duckdb_copy(job, "FORMAT json, ARRAY true")


def duckdb_parquet(job: Job) -> None:
    duckdb_copy(job, "FORMAT parquet, COMPRESSION zstd")


def postgres_csv(job: Job) -> None:
    """psql writing `COPY (query) TO STDOUT` into the file, the query's values as literals."""
    copy = f"COPY ({postgres_statement(job.query())}) TO STDOUT (FORMAT csv, HEADER true)"
    with job.output.open("wb") as target:
        subprocess.run(
            ["psql", "--no-psqlrc", "--quiet", "-d", job.source_url, "-c", copy], stdout=target, check=True
        )


def _query_batches(job: Job) -> Iterator[pa.RecordBatch]:
    """The query's rows from DuckDB, decimals as doubles and timestamps naive (UTC), as the
    Python spreadsheet writers take them."""
    query = job.query()
    with duckdb_connection(job.source, read_only=True) as connection:
        relation = connection.sql(query.sql, params=list(query.params))
        with relation.to_arrow_reader(50_000) as reader:
            for batch in reader:
                columns = [
                    column.cast(pa.float64())
                    if pa.types.is_decimal(column.type)
                    else column.cast(pa.timestamp("us"))
                    if pa.types.is_timestamp(column.type)
                    else column
                    for column in batch.columns
                ]
                yield pa.record_batch(columns, names=batch.schema.names)


def xlsxwriter_constant_memory(job: Job) -> None:
    """Plain xlsxwriter, row by row, in constant_memory mode (typed cells, no styling)."""
    import xlsxwriter

    options = {"constant_memory": True, "default_date_format": "yyyy-mm-dd", "strings_to_formulas": False}
    with xlsxwriter.Workbook(str(job.output), options) as workbook:
        sheet = workbook.add_worksheet("Data")
        sheet.write_row(0, 0, COLUMNS)
        row = 1
        for batch in _query_batches(job):
            for values in zip(*(column.to_pylist() for column in batch.columns), strict=True):
                sheet.write_row(row, 0, values)
                row += 1


def rustpy_xlsxwriter(job: Job) -> None:
    """The fastest typed XLSX writer found installable: rust_xlsxwriter through rustpy-xlsxwriter."""
    import rustpy_xlsxwriter

    batches = _query_batches(job)
    first = next(batches)
    reader = pa.RecordBatchReader.from_batches(first.schema, (first, *batches))
    rustpy_xlsxwriter.write_worksheet(
        reader, str(job.output), sheet_name="Data", freeze_row=1, autofilter=True, bold_headers=True
    )


def reportlab_canvas(job: Job) -> None:
    """reportlab's canvas drawing each page's rows as one text object, in the renderer's font."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.pdfgen import canvas

    from flows.render.pdf.layout import BODY_SIZE, FONT_NAME, font

    font()
    pdf = canvas.Canvas(str(job.output), pagesize=landscape(A4))
    page: list[str] = []

    def draw(lines: Sequence[str]) -> None:
        text = pdf.beginText(20, landscape(A4)[1] - 30)
        text.setFont(FONT_NAME, BODY_SIZE)
        for line in (" | ".join(COLUMNS), *lines):
            text.textLine(line)
        pdf.drawText(text)
        pdf.showPage()

    for batch in _query_batches(job):
        for values in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            page.append(" | ".join("" if value is None else str(value)[:40] for value in values))
            if len(page) == PDF_ROWS_PER_PAGE:
                draw(page)
                page.clear()
    if page:
        draw(page)
    pdf.save()
