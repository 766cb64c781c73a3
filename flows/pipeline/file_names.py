"""Names of export files."""

import re
import unicodedata
from datetime import datetime

MAX_SLUG_LENGTH = 60
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """ASCII lower-case words joined by dashes ("Q1 Sales: Zoë's" → "q1-sales-zoe-s")."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _NOT_SLUG.sub("-", ascii_name.lower()).strip("-")
    return slug[:MAX_SLUG_LENGTH].rstrip("-") or "export"


def export_file_name(export_name: str, generated_at: datetime, extension: str) -> str:
    """`<export name slug>_<YYYYMMDD-HHMMSS>.<ext>`, the time in UTC."""
    return f"{slugify(export_name)}_{generated_at:%Y%m%d-%H%M%S}.{extension}"
