"""What the benchmarks share: the issue's 12-column sales selection and scratch PostgreSQL databases."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

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
