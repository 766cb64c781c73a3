"""Renderers: each turns staged rows into one file format, streamed, in constant memory.

A renderer knows no database, no Prefect and no HTTP: it reads `StagedRows` (schema with each
column's label and display format in the field metadata, total row count, batches) and writes
one file at the path it is given. Progress and cancellation happen in the batch iteration
(StagedRows.on_batch), so a renderer only has to consume batches in order.
"""

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import pyarrow as pa

from flows.catalog import DisplayFormat
from flows.domain import ExportFormat
from flows.staging import StagedRows


@dataclass(frozen=True)
class RenderOptions:
    """What an export asks of its file; each renderer reads the options that concern it."""

    title: str = "Export"
    export_type: str = ""
    filters: Mapping[str, object] = field(default_factory=dict)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    requester_timezone: str = "UTC"
    header: Literal["labels", "names"] = "labels"
    csv_delimiter: Literal[",", ";", "\t"] = ","
    csv_bom: bool = False
    formula_guard: bool = True
    json_lines: bool = False


class Renderer(Protocol):
    """A format module: its file extension, media type and render function."""

    EXTENSION: str
    MEDIA_TYPE: str

    def render(self, rows: StagedRows, target: Path, options: RenderOptions) -> None: ...


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
