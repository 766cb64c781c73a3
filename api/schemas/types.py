"""What GET /exports/types says about each export type: columns, filters, sort and formats."""

from pydantic import BaseModel, Field

from flows.catalog.model import DisplayFormat, FilterKind, SortDirection, ValueType
from flows.catalog.query import Operator
from flows.vocabulary import ExportFormat, ExportType


class ColumnOut(BaseModel):
    name: str
    label: str
    type: ValueType = Field(description="The value type in the file.")
    format: DisplayFormat = Field(description="How renderers show it (percent values are percent points).")
    sortable: bool
    allowed_values: list[str] = Field(description="The only values the column holds; empty: any.")


class FilterOut(BaseModel):
    name: str = Field(description="The filters object's key; also the column it compares.")
    kind: FilterKind
    operators: list[Operator] = Field(description="Operators this filter takes (see the filters syntax).")


class SortOut(BaseModel):
    column: str
    direction: SortDirection


class ExportTypeOut(BaseModel):
    export_type: ExportType
    label: str
    description: str
    sensitive: bool = Field(description="Only super_admin and admin may export it.")
    columns: list[ColumnOut]
    default_columns: list[str]
    filters: list[FilterOut]
    date_column: str = Field(description="What the date_from and date_to filters (YYYY-MM-DD) compare.")
    default_sort: SortOut
    formats: list[ExportFormat]
