"""Where the repository's SQL lives: export queries, the demo warehouse, app-database migrations."""

from pathlib import Path

SQL_ROOT = Path(__file__).resolve().parents[1] / "sql"
