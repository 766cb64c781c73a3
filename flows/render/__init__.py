"""Renderers: each turns rows into one file format, streamed, in constant memory.

A renderer knows no database, no Prefect and no HTTP: it reads `Rows` (schema with each
column's label and display format in the field metadata, the rows to expect, batches as they
come from the source) and writes one file at the path it is given. Progress and cancellation
happen in the batch iteration (Rows.on_batch), so a renderer only has to consume batches in order.
"""

import importlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator

from flows.catalog.model import DisplayFormat
from flows.render.rows import Rows
from flows.vocabulary import ExportFormat


class ExportOptions(BaseModel):
    """What a caller may choose about an export's file (stored on the row as `options`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)

    header: Literal["labels", "names"] = Field(
        default="labels", description="Header row of column labels or of column names."
    )
    csv_delimiter: Literal[",", ";", "\t"] = Field(default=",", description="CSV field delimiter.")
    csv_bom: bool = Field(default=False, description="Start CSV files with a UTF-8 BOM (for Excel).")
    formula_guard: bool = Field(
        default=True, description="Prefix CSV cells starting with = + - @ tab or CR with an apostrophe."
    )
    json_lines: bool = Field(default=False, description="Write JSON as NDJSON (one object a line).")
    requester_timezone: str = Field(
        default="UTC", alias="timezone", description="IANA zone shown beside UTC in reports."
    )

    @field_validator("requester_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class RenderOptions(ExportOptions):
    """An export's choices plus what its file says about it; each renderer reads what concerns it."""

    title: str = "Export"
    export_type: str = ""
    filters: Mapping[str, object] = Field(default_factory=dict)
    generated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Renderer(Protocol):
    """A format module: its file extension, media type, whether it needs the rows counted exactly
    before the first one (else the source's estimate will do), and its render function."""

    EXTENSION: str
    MEDIA_TYPE: str
    EXACT_COUNT: bool

    def render(self, rows: Rows, target: Path, options: RenderOptions) -> None: ...


def column_label(column: pa.Field) -> str:
    """The column's label from the catalog (its name when the schema carries none)."""
    metadata: dict[bytes, bytes] = column.metadata or {}
    name: str = column.name
    return metadata.get(b"label", name.encode()).decode()


def display_format(column: pa.Field) -> DisplayFormat:
    """How the catalog wants the column shown; `percent` values are percent points (12.5 = 12.5 %)."""
    metadata: dict[bytes, bytes] = column.metadata or {}
    return DisplayFormat(metadata.get(b"format", DisplayFormat.TEXT.value.encode()).decode())


def header_names(schema: pa.Schema, options: RenderOptions) -> list[str]:
    """The header row: column labels, or column names when the export asks for names."""
    if options.header == "names":
        return list(schema.names)
    return [column_label(column) for column in schema]


_MODULES: Mapping[ExportFormat, str] = {
    ExportFormat.CSV: "flows.render.csv",
    ExportFormat.EXCEL: "flows.render.excel",
    ExportFormat.PDF: "flows.render.pdf",
    ExportFormat.JSON: "flows.render.json",
    ExportFormat.PARQUET: "flows.render.parquet",
}


def renderer_for(export_format: ExportFormat) -> Renderer:
    """The module rendering that format (imported on first use: each pulls its own library)."""
    module: Renderer = importlib.import_module(_MODULES[export_format])
    return module


NDJSON_MEDIA_TYPE = "application/x-ndjson"


def media_type(export_format: ExportFormat, options: ExportOptions) -> str:
    """The rendered file's media type: the renderer's, except JSON written as NDJSON."""
    if export_format is ExportFormat.JSON and options.json_lines:
        return NDJSON_MEDIA_TYPE
    return renderer_for(export_format).MEDIA_TYPE
