"""The base queries of the export types: one SELECT per type in sql/exports, read once.

A base query is refused if it could split the statement or be read as parameterised.
"""

from functools import cache

from flows.sql_files import SQL_ROOT

SQL_DIR = SQL_ROOT / "exports"
# Characters a base query must not contain: statement separators and anything a driver
# could read as a placeholder (`?` for DuckDB, `%` for psycopg).
FORBIDDEN_SQL_CHARACTERS = frozenset(";%?")


@cache
def load_sql(file_name: str) -> str:
    """Read one base query by file name, refusing text that could split or parameterise it."""
    text = (SQL_DIR / file_name).read_text(encoding="utf-8").strip()
    found = FORBIDDEN_SQL_CHARACTERS.intersection(text)
    if found:
        raise ValueError(f"{file_name} contains {sorted(found)}: base queries must not")
    return text
