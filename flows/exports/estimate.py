"""How big an export would be before it runs, and the per-format row caps that keep it in bounds.

Rows: the query's count (DuckDB, or PostgreSQL when asked for an exact figure), else PostgreSQL's
planner estimate. Bytes: the format's own renderer writes the query's first SAMPLE_ROWS / 2 and
SAMPLE_ROWS rows, and the bytes the second sample adds per row are scaled to the rows (headers, a
PDF's title page, an XLSX's package counted once). Neither reads the whole result: a sample is the
query's ORDER BY with a LIMIT.

A format may have a row cap (Settings.format_max_rows, e.g. PDF): an export over it is refused when
it is asked for (`check_row_cap`, on the count) and, should the rows have grown since, when it runs.
"""

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_manager
import duckdb

from flows.catalog.query import ExportQuery, build_query
from flows.errors import InvalidInputError
from flows.exports.requests import ExportRequest
from flows.pipeline.extract import expected_rows
from flows.pipeline.one_pass import write_export_file
from flows.pipeline.sources import Source
from flows.render import RenderOptions, renderer_for
from flows.settings import Settings
from flows.vocabulary import ExportFormat

SAMPLE_ROWS = 1000
SOURCE_UNREACHABLE: tuple[type[Exception], ...] = (duckdb.Error, adbc_driver_manager.Error, OSError)
"""What reading a source that is down or locked raises."""


@dataclass(frozen=True)
class Estimate:
    """Rows the export would hold (`exact`: counted, else the planner's estimate) and its file's
    approximate size; `max_rows` is its format's cap (None: no cap)."""

    rows: int
    exact: bool
    bytes: int
    max_rows: int | None

    @property
    def allowed(self) -> bool:
        """Whether the export may be created: its rows within its format's cap."""
        return self.max_rows is None or self.rows <= self.max_rows


def estimate_export(source: Source, request: ExportRequest, settings: Settings) -> Estimate:
    """The rows and approximate bytes of the export `request` asks for, on `source`."""
    query = _query(source, request)
    cap = settings.format_max_rows.get(request.format)
    rows, exact = expected_rows(source, query, exact_count=cap is not None)
    options = RenderOptions(**request.options.model_dump(), title=request.export_name)
    with tempfile.TemporaryDirectory(prefix="exportflow-estimate-") as name:
        folder = Path(name)
        few = _sample(source, query, request.format, options, folder, SAMPLE_ROWS // 2)
        more = _sample(source, query, request.format, options, folder, SAMPLE_ROWS)
    return Estimate(rows, exact, _extrapolated(few, more, rows), cap)


def _extrapolated(few: tuple[int, int], more: tuple[int, int], rows: int) -> int:
    """Bytes at `rows`, along the line through two samples' (rows, bytes): what each row adds once the
    file's fixed parts and a compressed format's dictionaries are in place."""
    (few_rows, few_bytes), (more_rows, more_bytes) = few, more
    if more_rows <= few_rows:  # the sample holds every row
        return more_bytes
    per_row = (more_bytes - few_bytes) / (more_rows - few_rows)
    return max(0, round(more_bytes + per_row * (rows - more_rows)))


def check_row_cap(source: Source, request: ExportRequest, settings: Settings) -> None:
    """Refuse (InvalidInputError on `format`) an export whose rows exceed its format's cap."""
    cap = settings.format_max_rows.get(request.format)
    if cap is None:
        return
    rows, _ = expected_rows(source, _query(source, request), exact_count=True)
    refuse_over_cap(request.format, rows, cap)


def refuse_over_cap(export_format: ExportFormat, rows: int, cap: int) -> None:
    """InvalidInputError on `format` when `rows` exceed the format's cap, suggesting CSV instead."""
    if rows > cap:
        raise InvalidInputError(
            "format",
            f"{export_format.value} exports hold at most {cap:,} rows and this one has {rows:,}: "
            "choose csv (or parquet), or narrow the filters",
        )


def _query(source: Source, request: ExportRequest) -> ExportQuery:
    return build_query(
        request.export_type, dialect=source.kind, columns=request.columns, filters=request.filters
    )


def _sample(
    source: Source,
    query: ExportQuery,
    export_format: ExportFormat,
    options: RenderOptions,
    folder: Path,
    limit: int,
) -> tuple[int, int]:
    """The rows and bytes of the file the format makes of the query's first `limit` rows."""
    sample = dataclasses.replace(query, sql=f"{query.sql}\nLIMIT {int(limit)}")
    renderer = renderer_for(export_format)
    target = folder / f"sample-{limit}.{renderer.EXTENSION}"
    written = write_export_file(
        source,
        sample,
        renderer,
        target,
        options,
        preview_rows=0,
        spill_dir=folder / "spill",
        with_checksum=False,
    )
    return written.rows, target.stat().st_size
