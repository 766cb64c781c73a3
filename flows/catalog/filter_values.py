"""Filter values: a caller's JSON value checked against a filter's kind and turned into the value bound.

Dates as "YYYY-MM-DD"; numbers as JSON numbers or decimal strings ("12.50"), whole numbers for
integer columns, below 10^18 in size and with at most 18 decimals; enum values exactly as the
catalog lists them; text up to 1,000 characters without NUL, matched exactly (case-sensitive);
booleans as true or false. null is never a filter value. A value that does not fit raises
InvalidInputError naming the field.
"""

import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import TypeAlias

from flows.catalog.model import Filter, FilterKind, ValueType
from flows.errors import InvalidInputError

MAX_TEXT_LENGTH = 1000
MAX_DECIMAL_PLACES = 18
NUMBER_LIMIT = 10**18
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")

FilterValue: TypeAlias = date | Decimal | int | str | bool


def coerce(found: Filter, value: object, field: str) -> FilterValue:
    """Check a value against the filter's kind and turn it into the Python type bound."""
    match found.kind:
        case FilterKind.DATE:
            return to_date(value, field)
        case FilterKind.NUMBER:
            return _to_number(value, field, found.column.value_type is ValueType.INTEGER)
        case FilterKind.ENUM:
            return _to_enum(value, field, found.column.allowed_values)
        case FilterKind.TEXT:
            return _to_text(value, field)
        case FilterKind.BOOLEAN:
            return _to_bool(value, field)


def to_date(value: object, field: str) -> date:
    """A date given as "YYYY-MM-DD" (or as a date); InvalidInputError naming `field` otherwise."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInputError(field, "expected a date as YYYY-MM-DD")


def _to_number(value: object, field: str, whole: bool) -> Decimal | int:
    number = _as_decimal(value)
    if number is None:
        raise InvalidInputError(field, "expected a number")
    if abs(number) >= NUMBER_LIMIT:
        raise InvalidInputError(field, "number out of range")
    if whole:
        if number != number.to_integral_value():
            raise InvalidInputError(field, "expected a whole number")
        return int(number)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
        raise InvalidInputError(field, f"at most {MAX_DECIMAL_PLACES} decimal places")
    return number


def _as_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a JSON number, a Decimal or a decimal string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, str) and DECIMAL_TEXT.fullmatch(value):
        return Decimal(value)
    return None


def _to_enum(value: object, field: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInputError(field, f"expected one of {', '.join(allowed)}")
    return value


def _to_text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(field, "expected a string")
    if len(value) > MAX_TEXT_LENGTH:
        raise InvalidInputError(field, f"at most {MAX_TEXT_LENGTH} characters")
    if "\x00" in value:
        raise InvalidInputError(field, "NUL characters are not allowed")
    return value


def _to_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(field, "expected true or false")
    return value
