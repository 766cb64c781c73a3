"""The model of an export type: value types, display formats, filter kinds, columns, filters, sorts,
the export definition that ties them together, and their Arrow schemas.

The compact column constructors (`text`, `money`, `day`, ... and `define`) are what
flows/catalog/definitions.py writes the export types with; every model object checks itself when built.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa

from flows.catalog.sql import load_sql
from flows.vocabulary import ExportType

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
DATE_FROM = "date_from"
DATE_TO = "date_to"
ARROW_DECIMAL_PRECISION = 18


class ValueType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"


class DisplayFormat(StrEnum):
    """How a renderer shows a value; `percent` values are percent points (12.5 means 12.5 %)."""

    TEXT = "text"
    NUMBER = "number"
    CURRENCY = "currency"
    PERCENT = "percent"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"


class FilterKind(StrEnum):
    """What a filter compares: the kind decides its operators and how its values are coerced."""

    DATE = "date"
    NUMBER = "number"
    ENUM = "enum"
    TEXT = "text"
    BOOLEAN = "boolean"


class SortDirection(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True)
class Column:
    """One output column of an export type."""

    name: str
    label: str
    value_type: ValueType
    display_format: DisplayFormat
    scale: int | None = None
    allowed_values: tuple[str, ...] = ()
    sortable: bool = True

    def __post_init__(self) -> None:
        require(
            (self.scale is not None) == (self.value_type is ValueType.DECIMAL),
            f"column {self.name}: a scale is given exactly for decimals",
        )
        require(
            not self.allowed_values or self.value_type is ValueType.STRING,
            f"column {self.name}: only string columns have allowed values",
        )

    @property
    def arrow_type(self) -> pa.DataType:
        if self.value_type is ValueType.DECIMAL:
            return pa.decimal128(ARROW_DECIMAL_PRECISION, self.scale)
        return _ARROW_TYPES[self.value_type]

    @property
    def arrow_field(self) -> pa.Field:
        """The Arrow field, carrying label and display format as metadata for renderers."""
        metadata = {"label": self.label, "format": self.display_format.value}
        return pa.field(self.name, self.arrow_type, nullable=True, metadata=metadata)


_ARROW_TYPES: Mapping[ValueType, pa.DataType] = {
    ValueType.STRING: pa.string(),
    ValueType.INTEGER: pa.int64(),
    ValueType.BOOLEAN: pa.bool_(),
    ValueType.DATE: pa.date32(),
    ValueType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}

_FILTER_KINDS: Mapping[ValueType, FilterKind] = {
    ValueType.STRING: FilterKind.TEXT,
    ValueType.INTEGER: FilterKind.NUMBER,
    ValueType.DECIMAL: FilterKind.NUMBER,
    ValueType.BOOLEAN: FilterKind.BOOLEAN,
    ValueType.DATE: FilterKind.DATE,
}


@dataclass(frozen=True)
class Filter:
    """A filter callers may use, named like the column it compares."""

    column: Column
    kind: FilterKind

    @property
    def name(self) -> str:
        return self.column.name

    @classmethod
    def on(cls, column: Column) -> "Filter":
        """The filter a column supports: enum when it has allowed values, else by value type."""
        if column.allowed_values:
            return cls(column, FilterKind.ENUM)
        require(column.value_type in _FILTER_KINDS, f"column {column.name}: cannot be filtered")
        return cls(column, _FILTER_KINDS[column.value_type])


@dataclass(frozen=True)
class Sort:
    column: str
    direction: SortDirection


@dataclass(frozen=True)
class ExportDefinition:
    """One export type: what it reads, what it returns, and what callers may choose."""

    export_type: ExportType
    label: str
    description: str
    columns: tuple[Column, ...]
    default_columns: tuple[str, ...]
    filters: tuple[Filter, ...]
    date_column: str
    default_sort: Sort
    key_column: str

    def __post_init__(self) -> None:
        names = self.column_names
        require(len(set(names)) == len(names), f"{self.export_type}: duplicate column names")
        for name in (self.export_type.value, *names):
            require(IDENTIFIER.fullmatch(name) is not None, f"{name!r} is not a plain identifier")
        require(DATE_FROM not in names and DATE_TO not in names, "date_from/date_to are reserved")
        known = set(names)
        require(set(self.default_columns) <= known, f"{self.export_type}: unknown default column")
        require(
            self.column(self.date_column).value_type is ValueType.DATE,
            f"{self.export_type}: the date column must be a DATE column",
        )
        require(
            self.column(self.key_column).value_type is ValueType.INTEGER,
            f"{self.export_type}: the key column must be an integer column",
        )
        sortable = self.sortable_columns
        require(
            self.default_sort.column in sortable and self.key_column in sortable,
            f"{self.export_type}: default sort and key columns must be sortable",
        )

    @property
    def sql_file(self) -> str:
        return f"{self.export_type.value}.sql"

    @property
    def sortable_columns(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.sortable)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        """The column of that name; KeyError for a name the catalog does not list."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    def find_filter(self, name: str) -> Filter | None:
        return next((item for item in self.filters if item.name == name), None)

    def arrow_schema(self, columns: Iterable[str] | None = None) -> pa.Schema:
        """The Arrow schema of the given columns (default: every column), in the given order."""
        return arrow_schema(self.columns if columns is None else [self.column(name) for name in columns])

    def load_sql(self) -> str:
        """The base SELECT of this type, read from sql/exports."""
        return load_sql(self.sql_file)


def arrow_schema(columns: Iterable[Column]) -> pa.Schema:
    """The Arrow schema of these columns, in their order."""
    return pa.schema([column.arrow_field for column in columns])


def require(condition: bool, message: str) -> None:
    """Refuse a wrong catalog definition (ValueError), naming what is wrong."""
    if not condition:
        raise ValueError(f"catalog: {message}")


# Compact column constructors. Labels default to the name in words ("sale_id" → "Sale ID").

_ACRONYMS = {"id": "ID", "sku": "SKU"}


def _label(name: str) -> str:
    words = [_ACRONYMS.get(word, word) for word in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _column(
    name: str,
    value_type: ValueType,
    display_format: DisplayFormat,
    label: str | None,
    *,
    scale: int | None = None,
    allowed_values: Sequence[str] = (),
    sortable: bool = True,
) -> Column:
    return Column(
        name=name,
        label=label or _label(name),
        value_type=value_type,
        display_format=display_format,
        scale=scale,
        allowed_values=tuple(allowed_values),
        sortable=sortable,
    )


def text(name: str, label: str | None = None) -> Column:
    return _column(name, ValueType.STRING, DisplayFormat.TEXT, label)


def note(name: str, label: str | None = None) -> Column:
    """Free text too long to sort by."""
    return _column(name, ValueType.STRING, DisplayFormat.TEXT, label, sortable=False)


def enum(name: str, allowed_values: Sequence[str], label: str | None = None) -> Column:
    return _column(name, ValueType.STRING, DisplayFormat.TEXT, label, allowed_values=allowed_values)


def integer(name: str, label: str | None = None) -> Column:
    return _column(name, ValueType.INTEGER, DisplayFormat.NUMBER, label)


def number(name: str, label: str | None = None, *, scale: int = 2) -> Column:
    return _column(name, ValueType.DECIMAL, DisplayFormat.NUMBER, label, scale=scale)


def money(name: str, label: str | None = None, *, scale: int = 2) -> Column:
    return _column(name, ValueType.DECIMAL, DisplayFormat.CURRENCY, label, scale=scale)


def percent(name: str, label: str, *, scale: int = 2) -> Column:
    return _column(name, ValueType.DECIMAL, DisplayFormat.PERCENT, label, scale=scale)


def day(name: str, label: str | None = None) -> Column:
    return _column(name, ValueType.DATE, DisplayFormat.DATE, label)


def instant(name: str, label: str | None = None) -> Column:
    return _column(name, ValueType.TIMESTAMP, DisplayFormat.DATETIME, label)


def flag(name: str, label: str | None = None) -> Column:
    return _column(name, ValueType.BOOLEAN, DisplayFormat.BOOLEAN, label)


def define(
    export_type: ExportType,
    label: str,
    description: str,
    columns: Sequence[Column],
    *,
    defaults: str,
    filters: str,
    date_column: str,
    key: str,
) -> ExportDefinition:
    """An export definition from space-separated name lists.

    The date column is always filterable; the default sort is newest first by the date column.
    """
    by_name = {column.name: column for column in columns}
    filter_names = dict.fromkeys([date_column, *filters.split()])
    require(set(filter_names) <= set(by_name), f"{export_type}: filter on an unknown column")
    return ExportDefinition(
        export_type=export_type,
        label=label,
        description=description,
        columns=tuple(columns),
        default_columns=tuple(defaults.split()),
        filters=tuple(Filter.on(by_name[name]) for name in filter_names),
        date_column=date_column,
        default_sort=Sort(date_column, SortDirection.DESC),
        key_column=key,
    )
