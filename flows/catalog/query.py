"""The query builder: one bound SELECT per export, from columns, filters and sort a caller chose.

Input is what an API body gives (JSON values); output is one statement for DuckDB (`?`
placeholders) or psycopg (`%s`) in which every identifier comes from the catalog, double-quoted,
and every value is a bound parameter:

    SELECT "order_number", "total_amount"
    FROM (<sql/exports/sales.sql>) AS src
    WHERE "sale_date" >= ? AND "region" IN (?, ?)
    ORDER BY "total_amount" DESC NULLS LAST, "sale_id" ASC NULLS LAST

Filter syntax: `filters` is an object whose entries all have to hold (AND).

- `"date_from": "2024-01-01"`, `"date_to": "2024-01-31"`: ISO dates on the type's date column,
  both inclusive (date_to covers its whole day, the column being a DATE).
- `"<filter>": <value>`: equals.
- `"<filter>": [<value>, ...]`: one of the values (enum and text filters; 1 to 100 values).
- `"<filter>": {"gte": 10, "lt": 100}`: operators, all of which have to hold:
  date and number filters take eq, gt, gte, lt, lte and between ([low, high], inclusive);
  enum and text filters take eq, in and not_in (a list); boolean filters take eq.

Filters are named like the column they compare; the catalog lists each type's filters and
their kinds. Values are checked and converted as flows/catalog/filter_values.py describes.

Sort: `sort_by` names a sortable column (default: the type's default sort), `sort_order` is
asc or desc (default: asc when sort_by is given, else the type's default direction). Ties are
broken by the type's key column; NULLs sort last on both engines.

Every mistake raises InvalidInputError naming the field as the caller wrote it: `columns`,
`columns[2]`, `filters.region`, `filters.region[1]`, `filters.total_amount.gte`,
`filters.region.in[3]`, `filters.date_to`, `sort_by`, `sort_order`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

import pyarrow as pa

from flows.catalog.definitions import get_definition
from flows.catalog.filter_values import FilterValue, coerce, to_date
from flows.catalog.model import (
    DATE_FROM,
    DATE_TO,
    IDENTIFIER,
    Column,
    ExportDefinition,
    Filter,
    FilterKind,
    Sort,
    SortDirection,
    arrow_schema,
)
from flows.errors import InvalidInputError
from flows.pipeline.sources import SourceKind
from flows.vocabulary import ExportType

MAX_IN_VALUES = 100
PLACEHOLDERS: Mapping[SourceKind, str] = {SourceKind.DUCKDB: "?", SourceKind.POSTGRESQL: "%s"}

E = TypeVar("E", bound=StrEnum)


class Operator(StrEnum):
    EQ = "eq"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    IN = "in"
    NOT_IN = "not_in"


_RANGE_OPERATORS = frozenset(
    {Operator.EQ, Operator.GT, Operator.GTE, Operator.LT, Operator.LTE, Operator.BETWEEN}
)
_LIST_OPERATORS = frozenset({Operator.EQ, Operator.IN, Operator.NOT_IN})
OPERATORS: Mapping[FilterKind, frozenset[Operator]] = {
    FilterKind.DATE: _RANGE_OPERATORS,
    FilterKind.NUMBER: _RANGE_OPERATORS,
    FilterKind.ENUM: _LIST_OPERATORS,
    FilterKind.TEXT: _LIST_OPERATORS,
    FilterKind.BOOLEAN: frozenset({Operator.EQ}),
}
_SQL_OPERATORS: Mapping[Operator, str] = {
    Operator.EQ: "=",
    Operator.GT: ">",
    Operator.GTE: ">=",
    Operator.LT: "<",
    Operator.LTE: "<=",
    Operator.BETWEEN: "BETWEEN",
    Operator.IN: "IN",
    Operator.NOT_IN: "NOT IN",
}
_LOWER_BOUNDS = frozenset({Operator.GT, Operator.GTE})
_UPPER_BOUNDS = frozenset({Operator.LT, Operator.LTE})


@dataclass(frozen=True)
class Condition:
    """One checked comparison of a catalog column with coerced values."""

    column: str
    operator: Operator
    values: tuple[FilterValue, ...]


@dataclass(frozen=True)
class Choices:
    """A caller's checked choices: the columns, the conditions and the sort of one export type."""

    definition: ExportDefinition
    columns: tuple[Column, ...]
    conditions: tuple[Condition, ...]
    sort: Sort


@dataclass(frozen=True)
class ExportQuery:
    """A statement ready to run on one kind of source, with its bound values."""

    export_type: ExportType
    dialect: SourceKind
    sql: str
    params: tuple[FilterValue, ...]
    columns: tuple[Column, ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        return arrow_schema(self.columns)


def build_query(
    export_type: ExportType | str,
    *,
    dialect: SourceKind,
    columns: Sequence[object] | None = None,
    filters: Mapping[str, object] | None = None,
    sort_by: object = None,
    sort_order: object = None,
) -> ExportQuery:
    """Check a caller's choices against the catalog and build the statement for `dialect`."""
    chosen = check_choices(
        export_type, columns=columns, filters=filters, sort_by=sort_by, sort_order=sort_order
    )
    definition = chosen.definition
    sql, params = _render(definition, chosen.columns, chosen.conditions, chosen.sort, PLACEHOLDERS[dialect])
    return ExportQuery(definition.export_type, dialect, sql, params, chosen.columns)


def check_choices(
    export_type: ExportType | str,
    *,
    columns: Sequence[object] | None = None,
    filters: Mapping[str, object] | None = None,
    sort_by: object = None,
    sort_order: object = None,
) -> Choices:
    """Check a caller's columns, filters and sort against the catalog, building no statement (requests,
    templates and schedules are checked so when stored; each run builds its own query)."""
    definition = get_definition(export_type)
    return Choices(
        definition,
        _select_columns(definition, columns),
        tuple(_parse_filters(definition, {} if filters is None else filters)),
        _parse_sort(definition, sort_by, sort_order),
    )


def quote_identifier(name: str) -> str:
    """Double-quote a catalog identifier; anything else is a programming error."""
    if not IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a catalog identifier: {name!r}")
    return f'"{name}"'


def _select_columns(definition: ExportDefinition, columns: Sequence[object] | None) -> tuple[Column, ...]:
    """The chosen columns; none chosen (`columns` left out, or `[]`: a form with nothing ticked, the
    seed's default) means the type's default columns."""
    if isinstance(columns, str) or not isinstance(columns, Sequence | None):
        raise InvalidInputError("columns", "expected a list of column names")
    if not columns:
        return tuple(definition.column(name) for name in definition.default_columns)
    known = definition.column_names
    chosen: list[Column] = []
    for index, name in enumerate(columns):
        if not isinstance(name, str) or name not in known:
            raise InvalidInputError(
                f"columns[{index}]",
                f"unknown column for {definition.export_type} exports; use one of {', '.join(known)}",
            )
        if any(column.name == name for column in chosen):
            raise InvalidInputError(f"columns[{index}]", "column listed more than once")
        chosen.append(definition.column(name))
    return tuple(chosen)


def _parse_filters(definition: ExportDefinition, filters: object) -> list[Condition]:
    if not isinstance(filters, Mapping):
        raise InvalidInputError("filters", "expected an object of filters")
    conditions = _date_range(definition, filters)
    for name, spec in filters.items():
        if name in (DATE_FROM, DATE_TO):
            continue
        field = f"filters.{name}"
        found = definition.find_filter(name) if isinstance(name, str) else None
        if found is None:
            allowed = ", ".join([DATE_FROM, DATE_TO, *(item.name for item in definition.filters)])
            raise InvalidInputError(
                field, f"unknown filter for {definition.export_type} exports; use one of {allowed}"
            )
        conditions.extend(_filter_conditions(found, spec, field))
    return conditions


def _date_range(definition: ExportDefinition, filters: Mapping[object, object]) -> list[Condition]:
    """The conditions of `date_from` / `date_to` on the type's date column."""
    bounds = {
        name: to_date(filters[name], f"filters.{name}") for name in (DATE_FROM, DATE_TO) if name in filters
    }
    start, end = bounds.get(DATE_FROM), bounds.get(DATE_TO)
    if start is not None and end is not None and start > end:
        raise InvalidInputError(f"filters.{DATE_TO}", "date_to is before date_from")
    column = definition.date_column
    return [
        Condition(column, operator, (bound,))
        for operator, bound in ((Operator.GTE, start), (Operator.LTE, end))
        if bound is not None
    ]


def _filter_conditions(found: Filter, spec: object, field: str) -> list[Condition]:
    if isinstance(spec, Mapping):
        if not spec:
            raise InvalidInputError(field, "an operator object needs at least one operator")
        conditions = [
            _condition(found, operator, value, f"{field}.{operator}") for operator, value in spec.items()
        ]
        _check_bounds(conditions, field)
        return conditions
    if isinstance(spec, list | tuple):
        return [_condition(found, Operator.IN, spec, field)]
    return [_condition(found, Operator.EQ, spec, field)]


def _condition(found: Filter, name: object, value: object, field: str) -> Condition:
    allowed = OPERATORS[found.kind]
    operator = _member(Operator, name)
    if operator is None:
        raise InvalidInputError(field, f"unknown operator; use one of {_names(allowed)}")
    if operator not in allowed:
        raise InvalidInputError(
            field, f"{found.kind} filters do not take {operator}; use one of {_names(allowed)}"
        )
    if operator in (Operator.IN, Operator.NOT_IN):
        return Condition(found.name, operator, _value_list(found, value, field))
    if operator is Operator.BETWEEN:
        return Condition(found.name, operator, _between(found, value, field))
    return Condition(found.name, operator, (coerce(found, value, field),))


def _value_list(found: Filter, value: object, field: str) -> tuple[FilterValue, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidInputError(field, "expected a list of values")
    if not value:
        raise InvalidInputError(field, "the list of values is empty")
    if len(value) > MAX_IN_VALUES:
        raise InvalidInputError(field, f"at most {MAX_IN_VALUES} values")
    coerced = [coerce(found, item, f"{field}[{index}]") for index, item in enumerate(value)]
    return tuple(dict.fromkeys(coerced))


def _between(found: Filter, value: object, field: str) -> tuple[FilterValue, FilterValue]:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise InvalidInputError(field, "expected [low, high]")
    low, high = (coerce(found, item, f"{field}[{index}]") for index, item in enumerate(value))
    if _above(low, high):
        raise InvalidInputError(field, "low is above high")
    return low, high


def _check_bounds(conditions: Sequence[Condition], field: str) -> None:
    """Refuse operator objects whose lower bound is above their upper bound."""
    lows = [item.values[0] for item in conditions if item.operator in _LOWER_BOUNDS]
    highs = [item.values[0] for item in conditions if item.operator in _UPPER_BOUNDS]
    if any(_above(low, high) for low in lows for high in highs):
        raise InvalidInputError(field, "the lower bound is above the upper bound")


def _above(low: FilterValue, high: FilterValue) -> bool:
    """Whether `low > high` for two values of one range filter (dates, or numbers)."""
    if isinstance(low, date) and isinstance(high, date):
        return low > high
    if isinstance(low, int | Decimal) and isinstance(high, int | Decimal):
        return low > high
    return False


def _parse_sort(definition: ExportDefinition, sort_by: object, sort_order: object) -> Sort:
    sortable = definition.sortable_columns
    if sort_by is None:
        column = definition.default_sort.column
    elif isinstance(sort_by, str) and sort_by in sortable:
        column = sort_by
    else:
        raise InvalidInputError(
            "sort_by",
            f"cannot sort {definition.export_type} exports by that; use one of {', '.join(sortable)}",
        )
    default = definition.default_sort.direction if sort_by is None else SortDirection.ASC
    direction = (
        default
        if sort_order is None
        else _member(SortDirection, sort_order.lower() if isinstance(sort_order, str) else None)
    )
    if direction is None:
        raise InvalidInputError("sort_order", "expected asc or desc")
    return Sort(column, direction)


def _member(kind: type[E], value: object) -> E | None:
    """The member of a string enum equal to `value`, if any."""
    return next((member for member in kind if member == value), None)


def _render(
    definition: ExportDefinition,
    columns: Sequence[Column],
    conditions: Sequence[Condition],
    sort: Sort,
    placeholder: str,
) -> tuple[str, tuple[FilterValue, ...]]:
    """The statement text (identifiers and placeholders only) and its values, in order."""
    order = [(sort.column, sort.direction)]
    if sort.column != definition.key_column:
        order.append((definition.key_column, SortDirection.ASC))
    lines = [
        "SELECT " + ", ".join(quote_identifier(column.name) for column in columns),
        "FROM (",
        definition.load_sql(),
        ") AS src",
    ]
    if conditions:
        clauses = (_condition_sql(condition, placeholder) for condition in conditions)
        lines.append("WHERE " + " AND ".join(clauses))
    lines.append(
        "ORDER BY "
        + ", ".join(f"{quote_identifier(name)} {direction.upper()} NULLS LAST" for name, direction in order)
    )
    params = tuple(value for condition in conditions for value in condition.values)
    return "\n".join(lines), params


def _condition_sql(condition: Condition, placeholder: str) -> str:
    column = quote_identifier(condition.column)
    operator = _SQL_OPERATORS[condition.operator]
    if condition.operator in (Operator.IN, Operator.NOT_IN):
        return f"{column} {operator} ({', '.join([placeholder] * len(condition.values))})"
    if condition.operator is Operator.BETWEEN:
        return f"{column} BETWEEN {placeholder} AND {placeholder}"
    return f"{column} {operator} {placeholder}"


def _names(operators: frozenset[Operator]) -> str:
    return ", ".join(operator for operator in Operator if operator in operators)
