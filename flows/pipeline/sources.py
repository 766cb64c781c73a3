"""The warehouse a source URL names: a DuckDB file or a PostgreSQL database, and connections to it."""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import duckdb
import psycopg

from flows.errors import InvalidInputError


class SourceKind(StrEnum):
    DUCKDB = "duckdb"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class Source:
    """A parsed source URL: a DuckDB file path, or a libpq connection URL."""

    kind: SourceKind
    location: str

    @property
    def duckdb_path(self) -> Path:
        if self.kind is not SourceKind.DUCKDB:
            raise TypeError("not a DuckDB source")
        return Path(self.location)


def parse_source(url: str) -> Source:
    """Accept `postgresql://…`, `postgres://…`, `duckdb:///path` or a plain file path."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return Source(SourceKind.POSTGRESQL, url.replace("postgresql+psycopg://", "postgresql://", 1))
    if url.startswith("duckdb://"):
        path = url.removeprefix("duckdb://")
        if not path:
            raise InvalidInputError("source_url", "duckdb:// needs a file path, e.g. duckdb:///data/w.duckdb")
        return Source(SourceKind.DUCKDB, str(Path(path).expanduser().resolve()))
    if "://" in url:
        raise InvalidInputError("source_url", f"unsupported scheme in {url.split('://')[0]}://")
    return Source(SourceKind.DUCKDB, str(Path(url).expanduser().resolve()))


DUCKDB_MEMORY_LIMIT = "512MB"
"""What one DuckDB query may hold in memory unless its caller says otherwise (the demo-data
generator, checks); a bigger sort (ORDER BY of millions of rows) spills to the spill folder
instead of growing the process. An export's extraction has its own, smaller limit."""


@contextmanager
def duckdb_connection(
    source: Source,
    *,
    read_only: bool,
    memory_limit: str = DUCKDB_MEMORY_LIMIT,
    spill_dir: Path | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection in UTC with bounded memory and no progress bar, closed on exit; what does
    not fit in `memory_limit` spills to `spill_dir` (default: a folder in the system's temp folder)."""
    connection = duckdb.connect(str(source.duckdb_path), read_only=read_only)
    spill = spill_dir or Path(tempfile.gettempdir()) / "exportflow-duckdb"
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET enable_progress_bar = false")
        connection.execute("SET memory_limit = ?", [memory_limit])
        connection.execute("SET temp_directory = ?", [str(spill)])
        yield connection
    finally:
        connection.close()


@contextmanager
def postgres_connection(source: Source) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A psycopg connection in UTC, closed on exit."""
    with psycopg.connect(source.location, options="-c TimeZone=UTC") as connection:
        yield connection
