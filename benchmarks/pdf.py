"""Time the PDF renderer against its anchor, a minimal reportlab canvas loop, on the same rows.

    uv run python benchmarks/pdf.py [--rows N] [--scale 10] [--repeat 3]

Generates N sales rows of demo data into a temporary DuckDB file, stages the 12-column selection
below as the flow does, and renders it with flows.render.pdf and with the anchor: one text object
a page, `setTextOrigin` + `textOut(str(value))` per non-NULL cell, with the same page size, font,
font size, rows per page and stream compression (Flate, no ASCII85) as the renderer. Each run is a
fresh subprocess (best of --repeat at N rows, one run at N x scale), timed from the first batch
read to the file closed, in wall-clock and CPU time (the latter steadier on a shared machine), with
its peak RSS (Linux: VmHWM). Ratios are anchor time / renderer time. The scaled run shows whether
RSS stays flat.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import SALES_COLUMNS, save_rows, saved_rows
from reportlab import rl_config
from reportlab.pdfgen.canvas import Canvas

from flows.catalog.query import build_query
from flows.demo_warehouse import generate_demo_data
from flows.pipeline.extract import stream_batches
from flows.pipeline.sources import parse_source
from flows.render import RenderOptions
from flows.render import pdf as renderer
from flows.render.pdf.layout import BODY_SIZE, FONT_NAME, MAX_COLUMN, ROW_HEIGHT, ColumnNeed, font, plan_page
from flows.render.rows import Rows

COLUMNS = list(SALES_COLUMNS)
ENGINES = ("renderer", "anchor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="sales rows of the base run")
    parser.add_argument("--scale", type=int, default=10, help="the second run has rows x scale rows")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine at the base size")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--staged", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.staged, args.out)
        return

    print(f"{'rows':>10} {'engine':>9} {'rows/s':>9} {'ratio':>6} ", end="")
    print(f"{'CPU rows/s':>11} {'ratio':>6} {'peak RSS MB':>11}")
    with tempfile.TemporaryDirectory() as folder:
        for rows, repeat in ((args.rows, args.repeat), (args.rows * args.scale, 1)):
            staged = _stage(Path(folder), rows)
            results = {
                engine: _best(engine, staged, Path(folder) / f"{engine}.pdf", repeat) for engine in ENGINES
            }
            for engine in ENGINES:
                result, anchor = results[engine], results["anchor"]
                print(
                    f"{rows:>10,} {engine:>9} {rows / result['seconds']:>9,.0f} "
                    f"{anchor['seconds'] / result['seconds']:>6.2f} {rows / result['cpu_seconds']:>11,.0f} "
                    f"{anchor['cpu_seconds'] / result['cpu_seconds']:>6.2f} {result['rss_mb']:>11,.0f}"
                )
            staged.unlink()


def _stage(folder: Path, rows: int) -> Path:
    """Generate `rows` sales rows into a new DuckDB file and stage the selection like the flow."""
    source = parse_source(str(folder / f"warehouse-{rows}.duckdb"))
    generate_demo_data(source, rows=rows)
    query = build_query("sales", dialect=source.kind, columns=COLUMNS)
    path = folder / f"sales-{rows}.arrow"
    save_rows(stream_batches(source, query), query.arrow_schema, path)
    Path(source.location).unlink()
    return path


def _best(engine: str, staged: Path, out: Path, repeat: int) -> dict[str, float]:
    """The fastest of `repeat` runs of `engine` in fresh subprocesses, with its peak RSS."""
    runs = []
    for _ in range(repeat):
        command = [sys.executable, __file__, "--child", engine, "--staged", str(staged), "--out", str(out)]
        finished = subprocess.run(command, check=True, capture_output=True, text=True)
        runs.append(json.loads(finished.stdout))
    return min(runs, key=lambda run: run["seconds"])


def _child(engine: str, staged_path: Path, out: Path) -> None:
    """Render once and print wall and CPU seconds and peak RSS as JSON."""
    staged = saved_rows(staged_path)
    font()
    started, cpu_started = time.perf_counter(), time.process_time()
    if engine == "renderer":
        renderer.render(staged, out, RenderOptions(title="Sales", export_type="sales"))
    else:
        _anchor(staged, out)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "rss_mb": _peak_rss_mb()}))


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    status = Path("/proc/self/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kilobytes) / 1024


def _anchor(staged: Rows, out: Path) -> None:
    """The plain canvas loop: each page one text object, each non-NULL cell placed and drawn."""
    rl_config.useA85 = 0
    layout = plan_page([ColumnNeed(MAX_COLUMN, True)] * len(staged.schema), intro_lines=0)
    canvas = Canvas(str(out), pagesize=(layout.page_width, layout.page_height), pageCompression=1)
    top = layout.header_top - 3 * ROW_HEIGHT

    def new_page_text() -> Any:
        text = canvas.beginText()
        text.setFont(FONT_NAME, BODY_SIZE)
        return text

    text = new_page_text()
    drawn = 0
    for batch in staged:
        for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            line = drawn % layout.rows_per_page
            if line == 0 and drawn:
                canvas.drawText(text)
                canvas.showPage()
                text = new_page_text()
            y = top - line * ROW_HEIGHT
            for x, value in zip(layout.column_lefts, row, strict=True):
                if value is not None:
                    text.setTextOrigin(x, y)
                    text.textOut(str(value))
            drawn += 1
    canvas.drawText(text)
    canvas.save()


if __name__ == "__main__":
    main()
