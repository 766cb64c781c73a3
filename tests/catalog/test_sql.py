"""The base SQL files: one per export type, each listing the catalog's columns in its header."""

import re

import pytest

from flows.catalog.definitions import CATALOG
from flows.catalog.sql import SQL_DIR, load_sql
from flows.vocabulary import ExportType


def header_columns(sql: str) -> list[str]:
    """Column names listed in a SQL file's header, between `-- Columns:` and `-- Parameters`."""
    header = sql.split("\nSELECT", 1)[0]
    listed = header.split("-- Columns:", 1)[1].split("-- Parameters", 1)[0]
    return re.findall(r"[a-z][a-z0-9_]*", listed)


@pytest.mark.parametrize("export_type", list(ExportType))
def test_sql_file_header_lists_the_catalog_columns(export_type: ExportType):
    definition = CATALOG[export_type]
    sql = load_sql(definition.sql_file)
    assert header_columns(sql) == list(definition.column_names)
    header_words = [word for word in sql.split("\nSELECT", 1)[0].split() if word != "--"]
    assert "query builder" in " ".join(header_words)
    assert "binds every filter value" in " ".join(header_words)
    assert not set(";%?") & set(sql)


def test_every_sql_file_belongs_to_a_type():
    assert sorted(path.name for path in SQL_DIR.glob("*.sql")) == sorted(
        definition.sql_file for definition in CATALOG.values()
    )
