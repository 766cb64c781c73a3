"""Storage keys: relative to the storage root, checked before any use, and the layout of export files,
`exports/<type>/<yyyy>/<mm>/<export id>/<file name>`.
"""

import re
from datetime import datetime
from uuid import UUID

from flows.errors import TerminalError

TEMP_DIR = ".tmp"
"""First key segment reserved for uploads in progress; never a final key."""
MAX_KEY_BYTES = 1024  # the S3 limit

_FORBIDDEN_IN_SEGMENT = re.compile(r"[\x00-\x1f\x7f\\*?\[\]]")


def validate_key(key: str) -> str:
    """Return `key` if it is a safe relative key; otherwise raise TerminalError."""
    problem = _key_problem(key)
    if problem:
        raise TerminalError(f"invalid storage key {key!r}: {problem}")
    return key


def _key_problem(key: str) -> str | None:
    if not key:
        return "empty"
    if len(key.encode()) > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    if key.startswith("/"):
        return "absolute"
    segments = key.split("/")
    if segments[0] == TEMP_DIR:
        return f"{TEMP_DIR}/ is reserved for uploads in progress"
    for segment in segments:
        if segment in ("", ".", ".."):
            return "empty, '.' or '..' segment"
        if _FORBIDDEN_IN_SEGMENT.search(segment):
            return "control character, backslash or wildcard"
    return None


def export_key(export_type: str, created_at: datetime, export_id: UUID, file_name: str) -> str:
    """The key of an export's file: `exports/<type>/<yyyy>/<mm>/<export id>/<file name>`."""
    return validate_key(f"exports/{export_type}/{created_at:%Y/%m}/{export_id}/{file_name}")
