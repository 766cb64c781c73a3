"""What the benchmarks share: the issue's 12-column sales selection, scratch PostgreSQL databases, and
rows kept in a file for timing several writers on the same rows."""

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.ipc as ipc
from psycopg import sql

from flows.render.rows import Rows

SALES_COLUMNS = (
    "sale_id",
    "order_number",
    "sold_at",
    "sale_date",
    "customer_name",
    "product_name",
    "category",
    "region",
    "channel",
    "quantity",
    "total_amount",
    "margin_percent",
)
"""The 12-column sales table every format is measured on: every value type of the catalog but
boolean (sales has none)."""


@contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new database on the server of `admin_url`, dropped on exit; yields its URL."""
    name = f"exportflow_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield admin_url.rsplit("/", 1)[0] + f"/{name}"
        finally:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def save_rows(batches: Iterable[pa.RecordBatch], schema: pa.Schema, path: Path) -> None:
    """Keep a query's rows in an Arrow IPC file, so that several writers can be timed on the same rows."""
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)


def saved_rows(path: Path) -> Rows:
    """The rows `save_rows` kept, read batch by batch as a renderer reads them."""
    with pa.OSFile(str(path), "rb") as source:
        reader = ipc.open_file(source)
        schema, count = reader.schema, reader.count_rows()

    def batches() -> Iterator[pa.RecordBatch]:
        with pa.OSFile(str(path), "rb") as source:
            reader = ipc.open_file(source)
            for index in range(reader.num_record_batches):
                yield reader.get_batch(index)

    return Rows(schema, count, batches())
