"""Time exportflow's renderers against an anchor engine writing the same query, format by format.

    uv run python benchmarks/formats.py [--rows N] [--postgres-rows N] [--slow-rows N]
        [--formats csv,json,parquet,excel,pdf] [--repeat N] [--rss-check]

Each case builds the catalog query for a 12-column selection of the sales type on a demo
warehouse (flows.demo_warehouse, generated in a temporary folder; PostgreSQL cases in a database the
script creates and drops) and measures, each run in a fresh process so its peak RSS is its own:

- exportflow: the export flow's one pass (flows.pipeline.one_pass.write_export_file: the query's
  rows counted, streamed into the format's renderer and previewed on the way; no row checksum, as for
  an export neither scheduled nor delivered if_changed);
- render only: the renderer alone, from the same rows already held in memory (reading them is not
  timed), which tells how much of exportflow's time is the renderer's;
- the anchor: the same query written straight to the format by a reference engine (DuckDB's own
  COPY; for PostgreSQL, psql running `COPY (query) TO STDOUT` into the file).

Rates are rows per second of the median of --repeat runs; ratio = exportflow / anchor, so 0.8 means
exportflow takes 1.25 times as long. --rss-check instead exports CSV at --rows and at ten times
--rows and compares the two peaks (target: within 1.2 times, and under 500 MB).
"""

import argparse
import importlib.util
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from anchors import (
    Job,
    duckdb_csv,
    duckdb_json,
    duckdb_parquet,
    postgres_csv,
    reportlab_canvas,
    rustpy_xlsxwriter,
    xlsxwriter_constant_memory,
)
from common import scratch_database

from flows.demo_warehouse import generate_demo_data
from flows.pipeline.extract import stream_batches
from flows.pipeline.one_pass import write_export_file
from flows.pipeline.sources import SourceKind, parse_source
from flows.render import RenderOptions, renderer_for
from flows.render.rows import Rows
from flows.vocabulary import ExportFormat, ExportType

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RSS_TARGET_RATIO = 1.2
RSS_TARGET_MB = 500

T = TypeVar("T")


@dataclass(frozen=True)
class Run:
    """What one measurement took: seconds of work (process start-up excluded) and peak RSS."""

    seconds: float
    peak_rss_mb: float


# Measurements, each run in a fresh process


def measure_export(job: Job) -> Run:
    """exportflow's path: the flow's one pass from the query to the file."""
    started = time.perf_counter()
    write_export_file(
        job.source,
        job.query(),
        renderer_for(job.export_format),
        job.output,
        _options(),
        preview_rows=20,
        spill_dir=job.output.parent / "spill",
        with_checksum=False,  # as for an export neither scheduled nor delivered if_changed
    )
    return Run(time.perf_counter() - started, _peak_rss_mb())


def measure_render(job: Job) -> Run:
    """The renderer alone, from the query's rows read into memory first (untimed)."""
    query = job.query()
    batches = list(stream_batches(job.source, query))
    rows = Rows(query.arrow_schema, sum(batch.num_rows for batch in batches), batches)
    started = time.perf_counter()
    renderer_for(job.export_format).render(rows, job.output, _options())
    return Run(time.perf_counter() - started, _peak_rss_mb())


def measure_anchor(anchor: Callable[[Job], None], job: Job) -> Run:
    started = time.perf_counter()
    anchor(job)
    return Run(time.perf_counter() - started, _peak_rss_mb())


def generate_warehouse(source_url: str, rows: int) -> None:
    generate_demo_data(parse_source(source_url), rows=rows)


def _options() -> RenderOptions:
    return RenderOptions(title="Sales benchmark", export_type=ExportType.SALES.value)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def in_fresh_process(function: Callable[..., T], *args: object) -> T:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_silence_stdout) as pool:
        return pool.submit(function, *args).result()


def _silence_stdout() -> None:
    """DuckDB draws progress bars on stdout during long queries; results come back pickled."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# Cases


@dataclass(frozen=True)
class Case:
    """One row of the table: a format on a source against one anchor, with the issue's target."""

    export_format: ExportFormat
    source: SourceKind
    anchor_name: str
    anchor: Callable[[Job], None]
    target: float
    rows_option: str
    needs: tuple[str, ...] = ()
    """Modules that must be importable (renderers being written, optional anchor libraries)."""

    def missing(self) -> list[str]:
        modules = [renderer_module(self.export_format), *self.needs]
        return [name for name in modules if importlib.util.find_spec(name) is None]


def renderer_module(export_format: ExportFormat) -> str:
    return f"flows.render.{ExportFormat(export_format).value}"


CASES = (
    Case(ExportFormat.CSV, SourceKind.DUCKDB, "DuckDB COPY csv", duckdb_csv, 0.8, "rows"),
    Case(
        ExportFormat.CSV,
        SourceKind.POSTGRESQL,
        "PostgreSQL COPY TO STDOUT",
        postgres_csv,
        0.8,
        "postgres_rows",
    ),
    Case(ExportFormat.JSON, SourceKind.DUCKDB, "DuckDB COPY json array", duckdb_json, 0.7, "rows"),
    Case(ExportFormat.PARQUET, SourceKind.DUCKDB, "DuckDB COPY parquet zstd", duckdb_parquet, 0.8, "rows"),
    Case(
        ExportFormat.EXCEL,
        SourceKind.DUCKDB,
        "rustpy-xlsxwriter",
        rustpy_xlsxwriter,
        0.7,
        "slow_rows",
        needs=("rustpy_xlsxwriter",),
    ),
    Case(
        ExportFormat.EXCEL,
        SourceKind.DUCKDB,
        "xlsxwriter constant_memory",
        xlsxwriter_constant_memory,
        5.0,
        "slow_rows",
    ),
    Case(ExportFormat.PDF, SourceKind.DUCKDB, "reportlab canvas", reportlab_canvas, 0.8, "slow_rows"),
)


@dataclass(frozen=True)
class Result:
    case: Case
    rows: int
    export: Run
    render: Run
    anchor: Run

    def rate(self, run: Run) -> float:
        return self.rows / run.seconds


# Running the cases


class Warehouses:
    """Demo warehouses made on first use, one per source kind and row count."""

    def __init__(self, folder: Path, stack: ExitStack, postgres_url: str) -> None:
        self._folder = folder
        self._stack = stack
        self._postgres_url = postgres_url
        self._made: dict[tuple[SourceKind, int], str] = {}

    def url(self, kind: SourceKind, rows: int) -> str:
        if (kind, rows) not in self._made:
            if kind is SourceKind.DUCKDB:
                url = str(self._folder / f"warehouse-{rows}.duckdb")
            else:
                url = self._stack.enter_context(scratch_database(self._postgres_url))
            print(f"generating a {kind} demo warehouse of {rows:,} sales rows", flush=True)
            in_fresh_process(generate_warehouse, url, rows)
            self._made[kind, rows] = url
        return self._made[kind, rows]


def run_case(case: Case, source_url: str, rows: int, folder: Path, repeat: int) -> Result:
    name = f"{case.export_format}-{case.source}-{rows}"
    extension = renderer_for(case.export_format).EXTENSION
    job = Job(case.export_format, source_url, folder / f"{name}.{extension}")
    anchor_job = Job(case.export_format, source_url, folder / f"{name}-anchor.{extension}")
    runs: dict[str, list[Run]] = {"export": [], "render": [], "anchor": []}
    for _ in range(repeat):
        runs["export"].append(in_fresh_process(measure_export, job))
        runs["render"].append(in_fresh_process(measure_render, job))
        runs["anchor"].append(in_fresh_process(measure_anchor, case.anchor, anchor_job))
    for path in (job.output, anchor_job.output):
        path.unlink(missing_ok=True)
    typical = {kind: _median(measured) for kind, measured in runs.items()}
    return Result(case, rows, typical["export"], typical["render"], typical["anchor"])


def _median(runs: Sequence[Run]) -> Run:
    """The median of the runs' times, with the highest peak RSS of all runs."""
    return Run(statistics.median(run.seconds for run in runs), max(run.peak_rss_mb for run in runs))


def print_table(results: Sequence[Result]) -> None:
    header = (
        "| format | source | rows | rows/s | anchor | anchor rows/s | ratio (target) | "
        "render-only rows/s | render ratio | peak RSS MB: export, render only, anchor |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for result in results:
        case = result.case
        ratio = result.anchor.seconds / result.export.seconds
        render_ratio = result.anchor.seconds / result.render.seconds
        verdict = "met" if ratio >= case.target else "missed"
        print(
            f"| {case.export_format} | {case.source} | {result.rows:,} | {result.rate(result.export):,.0f} "
            f"| {case.anchor_name} | {result.rate(result.anchor):,.0f} "
            f"| {ratio:.2f} (≥ {case.target:g}: {verdict}) | {result.rate(result.render):,.0f} "
            f"| {render_ratio:.2f} "
            f"| {result.export.peak_rss_mb:,.0f}, {result.render.peak_rss_mb:,.0f}, "
            f"{result.anchor.peak_rss_mb:,.0f} |"
        )


def rss_check(warehouses: Warehouses, rows: int, folder: Path) -> None:
    """CSV from DuckDB at `rows` and ten times as many: peak RSS should not grow with the rows."""
    peaks: list[float] = []
    for count in (rows, 10 * rows):
        url = warehouses.url(SourceKind.DUCKDB, count)
        job = Job(ExportFormat.CSV, url, folder / f"rss-{count}.csv")
        export = in_fresh_process(measure_export, job)
        anchor = in_fresh_process(measure_anchor, duckdb_csv, job)
        for path in (job.output, Path(url)):
            path.unlink()
        print(
            f"CSV, {count:,} rows: export {count / export.seconds:,.0f} rows/s, "
            f"peak RSS {export.peak_rss_mb:,.0f} MB; DuckDB COPY csv {count / anchor.seconds:,.0f} rows/s, "
            f"peak RSS {anchor.peak_rss_mb:,.0f} MB",
            flush=True,
        )
        peaks.append(export.peak_rss_mb)
    small, large = peaks
    verdict = "met" if large / small <= RSS_TARGET_RATIO and large < RSS_TARGET_MB else "missed"
    print(
        f"export: peak RSS {large:,.0f} MB at {10 * rows:,} rows / {small:,.0f} MB at {rows:,} rows "
        f"= {large / small:.2f} (target ≤ {RSS_TARGET_RATIO} and under {RSS_TARGET_MB} MB: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="sales rows for CSV, JSON and Parquet")
    parser.add_argument("--postgres-rows", type=int, default=200_000, help="sales rows on PostgreSQL")
    parser.add_argument("--slow-rows", type=int, default=50_000, help="sales rows for Excel and PDF")
    parser.add_argument("--formats", default=",".join(ExportFormat), help="comma-separated formats")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median counts")
    parser.add_argument("--postgres-url", default=POSTGRES_URL, help="a database of the server to use")
    parser.add_argument(
        "--rss-check", action="store_true", help="only compare CSV peak RSS at N and 10N rows"
    )
    args = parser.parse_args()
    formats = {ExportFormat(name.strip()) for name in args.formats.split(",")}

    with tempfile.TemporaryDirectory(prefix="exportflow-bench-") as name, ExitStack() as stack:
        folder = Path(name)
        warehouses = Warehouses(folder, stack, args.postgres_url)
        if args.rss_check:
            rss_check(warehouses, args.rows, folder)
            return
        results = []
        for case in CASES:
            if case.export_format not in formats:
                continue
            missing = case.missing()
            if missing:
                print(
                    f"skipped {case.export_format} against {case.anchor_name}: no module {', '.join(missing)}"
                )
                continue
            rows = getattr(args, case.rows_option)
            print(f"measuring {case.export_format} on {case.source} against {case.anchor_name}", flush=True)
            try:
                results.append(run_case(case, warehouses.url(case.source, rows), rows, folder, args.repeat))
            except Exception as error:  # a renderer still being written must not stop the others
                print(f"failed {case.export_format} against {case.anchor_name}: {error!r}")
    print_table(results)


if __name__ == "__main__":
    main()
