"""JSON: a streamed array of objects, or NDJSON (one object a line) when the export asks for it.

Objects are keyed by column name, not label: names are stable identifiers that programs reading
the file can rely on, labels are for people. Values are typed: integers and decimals are JSON
numbers written exactly as stored (12.50 stays 12.50, no float rounding), booleans true/false,
NULL null, dates "YYYY-MM-DD", timestamps ISO 8601 in UTC "YYYY-MM-DDTHH:MM:SS.ffffff+00:00"
(as in CSV). The file is UTF-8 with non-ASCII characters as they are and control characters
escaped. DuckDB's JSON writer does the work, from the batches (see duckdb_copy.copy_rows).
"""

from pathlib import Path

from flows.render import RenderOptions
from flows.render.duckdb_copy import TIMESTAMP_FORMAT, copy_rows
from flows.render.rows import Rows

EXTENSION = "json"
EXACT_COUNT = False
MEDIA_TYPE = "application/json"


def render(rows: Rows, target: Path, options: RenderOptions) -> None:
    copy_rows(
        rows.schema,
        rows,
        target,
        ["*"],
        {"format": "json", "array": not options.json_lines, "timestampformat": TIMESTAMP_FORMAT},
    )
