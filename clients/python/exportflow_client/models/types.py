"""What `types()` says about each export type: its columns, filters, default sort and formats."""

from pydantic import BaseModel

from exportflow_client.models.vocabulary import (
    DisplayFormat,
    ExportFormat,
    ExportType,
    FilterKind,
    Operator,
    SortDirection,
    ValueType,
)


class ColumnOut(BaseModel):
    """A column; `allowed_values`, when not empty, are the only values it holds."""

    name: str
    label: str
    type: ValueType
    format: DisplayFormat
    sortable: bool
    allowed_values: list[str]


class FilterOut(BaseModel):
    """A filter: its key in the filters object (also the column it compares) and its operators."""

    name: str
    kind: FilterKind
    operators: list[Operator]


class SortOut(BaseModel):
    column: str
    direction: SortDirection


class ExportTypeOut(BaseModel):
    """An export type; `sensitive` ones only admins may export, `date_column` is what date filters compare."""

    export_type: ExportType
    label: str
    description: str
    sensitive: bool
    columns: list[ColumnOut]
    default_columns: list[str]
    filters: list[FilterOut]
    date_column: str
    default_sort: SortOut
    formats: list[ExportFormat]
