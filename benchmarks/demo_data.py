"""Time demo-data generation into a fresh DuckDB file and into a fresh PostgreSQL database.

    uv run python benchmarks/demo_data.py [--rows N] [--postgres-rows N] [--postgres-url URL]

Each figure comes with an in-run baseline: a plain CREATE TABLE AS SELECT of a number series
with as many rows as the generator wrote (all tables), on the same engine, so the ratio shows
what generating realistic rows costs over writing rows at all on this machine.
"""

import argparse
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg
from common import scratch_database

from flows.demo_warehouse import DemoDataReport, generate_demo_data
from flows.pipeline.sources import parse_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="sales rows for DuckDB")
    parser.add_argument(
        "--postgres-rows", type=int, default=200_000, help="sales rows for PostgreSQL (0 skips it)"
    )
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a database of the server to benchmark; the script creates and drops its own",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        report = generate_demo_data(parse_source(str(Path(folder) / "warehouse.duckdb")), rows=args.rows)
        baseline = _duckdb_baseline(Path(folder) / "baseline.duckdb", report.total_rows)
    _print("DuckDB", report, baseline)

    if args.postgres_rows > 0:
        with scratch_database(args.postgres_url) as url:
            report = generate_demo_data(parse_source(url), rows=args.postgres_rows)
            baseline = _postgres_baseline(url, report.total_rows)
        _print("PostgreSQL", report, baseline)


def _duckdb_baseline(path: Path, rows: int) -> float:
    """Seconds to write `rows` rows of a number series into a new DuckDB file."""
    started = time.perf_counter()
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE baseline AS SELECT * FROM range($rows)", {"rows": rows})
    return time.perf_counter() - started


def _postgres_baseline(url: str, rows: int) -> float:
    """Seconds to write `rows` rows of a number series into a new PostgreSQL table."""
    started = time.perf_counter()
    with psycopg.connect(url) as connection:
        connection.execute(
            "CREATE TABLE baseline AS SELECT * FROM generate_series(1, %(rows)s)", {"rows": rows}
        )
    return time.perf_counter() - started


def _print(engine: str, report: DemoDataReport, baseline: float) -> None:
    sales = report.table_rows["sales"]
    print(
        f"{engine}: {sales:,} sales rows, {report.total_rows:,} rows in {len(report.table_rows)} tables, "
        f"{report.seconds:.2f} s -> {report.total_rows / report.seconds:,.0f} rows/s "
        f"({sales / report.seconds:,.0f} sales rows/s)\n"
        f"  baseline CREATE TABLE AS of {report.total_rows:,} series rows: {baseline:.2f} s "
        f"({report.total_rows / baseline:,.0f} rows/s); generator/baseline = {report.seconds / baseline:.1f}x"
    )


if __name__ == "__main__":
    main()
