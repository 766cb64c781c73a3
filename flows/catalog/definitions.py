"""The export types: their SQL file, columns, filters, date column, sort order and sensitivity.

Everything a caller may name (columns, filters, sort keys) is listed here; the query builder
(flows/catalog/query.py) accepts nothing else. Definitions are checked when this module is imported.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import pyarrow as pa

from flows.errors import InvalidInputError
from flows.settings import Settings
from flows.sql_files import SQL_ROOT
from flows.vocabulary import ExportType, Role

SQL_DIR = SQL_ROOT / "exports"
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
DATE_FROM = "date_from"
DATE_TO = "date_to"
# Characters a base query must not contain: statement separators and anything a driver
# could read as a placeholder (`?` for DuckDB, `%` for psycopg).
FORBIDDEN_SQL_CHARACTERS = frozenset(";%?")
ARROW_DECIMAL_PRECISION = 18
PRIVILEGED_ROLES = frozenset({Role.SUPER_ADMIN, Role.ADMIN})


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
        _require(
            (self.scale is not None) == (self.value_type is ValueType.DECIMAL),
            f"column {self.name}: a scale is given exactly for decimals",
        )
        _require(
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
        _require(column.value_type in _FILTER_KINDS, f"column {column.name}: cannot be filtered")
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
        _require(len(set(names)) == len(names), f"{self.export_type}: duplicate column names")
        for name in (self.export_type.value, *names):
            _require(IDENTIFIER.fullmatch(name) is not None, f"{name!r} is not a plain identifier")
        _require(DATE_FROM not in names and DATE_TO not in names, "date_from/date_to are reserved")
        known = set(names)
        _require(set(self.default_columns) <= known, f"{self.export_type}: unknown default column")
        _require(
            self.column(self.date_column).value_type is ValueType.DATE,
            f"{self.export_type}: the date column must be a DATE column",
        )
        _require(
            self.column(self.key_column).value_type is ValueType.INTEGER,
            f"{self.export_type}: the key column must be an integer column",
        )
        sortable = self.sortable_columns
        _require(
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


@cache
def load_sql(file_name: str) -> str:
    """Read one base query by file name, refusing text that could split or parameterise it."""
    text = (SQL_DIR / file_name).read_text(encoding="utf-8").strip()
    found = FORBIDDEN_SQL_CHARACTERS.intersection(text)
    if found:
        raise ValueError(f"{file_name} contains {sorted(found)}: base queries must not")
    return text


def _require(condition: bool, message: str) -> None:
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
    _require(set(filter_names) <= set(by_name), f"{export_type}: filter on an unknown column")
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


# Allowed values, as in the CHECK constraints of sql/warehouse/schema.sql.
REGIONS = ("NA", "LATAM", "EMEA", "APAC")
PRODUCT_CATEGORIES = ("electronics", "apparel", "home", "grocery", "beauty", "sports", "toys", "books")
CUSTOMER_SEGMENTS = ("consumer", "small_business", "enterprise", "government")
SALES_CHANNELS = ("store", "online", "phone", "partner")
SALES_PAYMENT_METHODS = ("card", "cash", "bank_transfer", "invoice", "voucher")
SALES_STATUSES = ("completed", "pending", "refunded", "cancelled")
STOCK_STATUSES = ("in_stock", "low_stock", "out_of_stock", "discontinued")
DEPARTMENTS = ("sales", "operations", "finance", "marketing", "engineering", "hr", "support", "logistics")
EMPLOYMENT_TYPES = ("full_time", "part_time", "contractor", "intern")
ATTENDANCE_STATUSES = ("present", "late", "absent", "remote", "sick_leave", "vacation")
PAYROLL_PAYMENT_METHODS = ("bank_transfer", "check", "cash")
PAYROLL_STATUSES = ("paid", "pending", "reversed")
ACCOUNT_CATEGORIES = ("revenue", "expense", "asset", "liability", "equity")
MARKETING_CHANNELS = ("email", "social", "search", "display", "events", "affiliate")
CAMPAIGN_STATUSES = ("planned", "active", "paused", "completed")

_DEFINITIONS = (
    define(
        ExportType.SALES,
        "Sales",
        "One row per sale with customer, product and store, amounts and margin.",
        [
            integer("sale_id"),
            text("order_number"),
            instant("sold_at", "Sold at"),
            day("sale_date"),
            integer("customer_id"),
            text("customer_name"),
            enum("customer_segment", CUSTOMER_SEGMENTS),
            integer("product_id"),
            text("sku"),
            text("product_name"),
            enum("category", PRODUCT_CATEGORIES),
            integer("store_id"),
            text("store_name"),
            enum("region", REGIONS),
            enum("channel", SALES_CHANNELS),
            integer("quantity"),
            money("unit_price"),
            money("discount_amount", "Discount"),
            money("tax_amount", "Tax"),
            money("total_amount", "Total"),
            money("cost_amount", "Cost"),
            money("margin_amount", "Margin"),
            percent("margin_percent", "Margin (%)"),
            text("currency"),
            enum("payment_method", SALES_PAYMENT_METHODS),
            enum("status", SALES_STATUSES),
            note("notes"),
        ],
        defaults=(
            "order_number sale_date customer_name product_name category store_name region "
            "channel quantity total_amount status"
        ),
        filters=(
            "region channel category customer_segment payment_method status currency "
            "order_number sku customer_id product_id store_id quantity total_amount "
            "margin_amount"
        ),
        date_column="sale_date",
        key="sale_id",
    ),
    define(
        ExportType.INVENTORY,
        "Inventory",
        "Stock snapshots per product and store, with availability and reorder signal.",
        [
            integer("inventory_id"),
            day("snapshot_date"),
            integer("product_id"),
            text("sku"),
            text("product_name"),
            enum("category", PRODUCT_CATEGORIES),
            integer("store_id"),
            text("store_name"),
            enum("region", REGIONS),
            integer("quantity_on_hand", "On hand"),
            integer("quantity_reserved", "Reserved"),
            integer("quantity_available", "Available"),
            integer("reorder_level"),
            flag("needs_reorder"),
            money("unit_cost"),
            money("stock_value"),
            instant("last_restocked_at", "Last restocked at"),
            enum("stock_status", STOCK_STATUSES),
            flag("is_discontinued", "Discontinued"),
        ],
        defaults=(
            "snapshot_date sku product_name category store_name region quantity_on_hand "
            "quantity_available reorder_level stock_value stock_status"
        ),
        filters=(
            "category region stock_status needs_reorder is_discontinued sku product_id "
            "store_id quantity_on_hand quantity_available stock_value"
        ),
        date_column="snapshot_date",
        key="inventory_id",
    ),
    define(
        ExportType.CUSTOMERS,
        "Customers",
        "Customer accounts with contact details, segment, region and lifetime value.",
        [
            integer("customer_id"),
            text("customer_name"),
            text("first_name"),
            text("last_name"),
            text("company_name"),
            text("email"),
            text("phone"),
            enum("segment", CUSTOMER_SEGMENTS),
            enum("region", REGIONS),
            text("country"),
            text("city"),
            day("signup_date"),
            instant("last_order_at", "Last order at"),
            money("lifetime_value"),
            flag("is_active", "Active"),
            flag("marketing_opt_in", "Marketing opt-in"),
            note("notes"),
        ],
        defaults=(
            "customer_id customer_name email segment region country signup_date lifetime_value is_active"
        ),
        filters="segment region country city email is_active marketing_opt_in lifetime_value",
        date_column="signup_date",
        key="customer_id",
    ),
    define(
        ExportType.STAFF,
        "Staff",
        "Employees with department, role, manager and salary.",
        [
            integer("employee_id"),
            text("full_name"),
            text("first_name"),
            text("last_name"),
            text("email"),
            text("phone"),
            enum("department", DEPARTMENTS),
            text("job_title"),
            enum("region", REGIONS),
            day("hire_date"),
            day("termination_date"),
            enum("employment_type", EMPLOYMENT_TYPES),
            integer("manager_id"),
            text("manager_name"),
            money("annual_salary"),
            flag("is_active", "Active"),
            note("notes"),
        ],
        defaults=(
            "employee_id full_name email department job_title region hire_date employment_type is_active"
        ),
        filters=(
            "department region employment_type is_active job_title manager_id annual_salary termination_date"
        ),
        date_column="hire_date",
        key="employee_id",
    ),
    define(
        ExportType.FINANCIAL,
        "Financial",
        "General-ledger entries with account, department, debit, credit and amount.",
        [
            integer("entry_id"),
            day("entry_date"),
            integer("fiscal_year"),
            integer("fiscal_quarter"),
            instant("posted_at", "Posted at"),
            text("account_code"),
            text("account_name"),
            enum("account_category", ACCOUNT_CATEGORIES),
            enum("department", DEPARTMENTS),
            enum("region", REGIONS),
            note("description"),
            money("debit"),
            money("credit"),
            money("amount"),
            text("currency"),
            text("reference"),
            flag("is_reconciled", "Reconciled"),
        ],
        defaults=(
            "entry_date account_code account_name account_category department region "
            "debit credit amount currency is_reconciled"
        ),
        filters=(
            "account_category region department account_code currency is_reconciled "
            "fiscal_year fiscal_quarter amount debit credit"
        ),
        date_column="entry_date",
        key="entry_id",
    ),
    define(
        ExportType.MARKETING,
        "Marketing",
        "Campaigns with budget, spend, reach, click-through and conversion rates and ROI.",
        [
            integer("campaign_id"),
            text("campaign_name"),
            enum("channel", MARKETING_CHANNELS),
            enum("region", REGIONS),
            day("start_date"),
            day("end_date"),
            instant("launched_at", "Launched at"),
            enum("campaign_status", CAMPAIGN_STATUSES, "Status"),
            integer("owner_employee_id", "Owner ID"),
            text("owner_name", "Owner"),
            money("budget"),
            money("spend"),
            money("budget_remaining"),
            percent("budget_used_percent", "Budget used (%)"),
            integer("impressions"),
            integer("clicks"),
            integer("conversions"),
            percent("ctr_percent", "Click-through rate (%)", scale=4),
            percent("conversion_rate_percent", "Conversion rate (%)", scale=4),
            money("cost_per_click", scale=4),
            money("cost_per_conversion"),
            money("attributed_revenue"),
            percent("roi_percent", "ROI (%)"),
            note("notes"),
        ],
        defaults=(
            "campaign_name channel region start_date end_date campaign_status budget "
            "spend impressions clicks conversions ctr_percent attributed_revenue "
            "roi_percent"
        ),
        filters=(
            "channel region campaign_status owner_employee_id end_date budget spend "
            "impressions clicks conversions ctr_percent attributed_revenue roi_percent"
        ),
        date_column="start_date",
        key="campaign_id",
    ),
    define(
        ExportType.ATTENDANCE,
        "Attendance",
        "Daily attendance per employee: clock times, hours, overtime and status.",
        [
            integer("attendance_id"),
            day("work_date"),
            integer("employee_id"),
            text("employee_name"),
            enum("department", DEPARTMENTS),
            enum("region", REGIONS),
            instant("clock_in_at", "Clock in"),
            instant("clock_out_at", "Clock out"),
            number("hours_worked"),
            number("overtime_hours"),
            enum("attendance_status", ATTENDANCE_STATUSES, "Status"),
            note("notes"),
        ],
        defaults=(
            "work_date employee_id employee_name department clock_in_at clock_out_at "
            "hours_worked overtime_hours attendance_status"
        ),
        filters="department region attendance_status employee_id hours_worked overtime_hours",
        date_column="work_date",
        key="attendance_id",
    ),
    define(
        ExportType.PAYROLL,
        "Payroll",
        "Payslips per employee and pay period: gross, bonus, tax, deductions and net pay.",
        [
            integer("payroll_id"),
            integer("employee_id"),
            text("employee_name"),
            enum("department", DEPARTMENTS),
            text("job_title"),
            day("pay_period_start"),
            day("pay_period_end"),
            day("pay_date"),
            money("gross_pay"),
            money("bonus"),
            money("tax_withheld"),
            money("deductions"),
            money("net_pay"),
            percent("effective_tax_rate_percent", "Effective tax rate (%)"),
            text("currency"),
            enum("payment_method", PAYROLL_PAYMENT_METHODS),
            enum("payroll_status", PAYROLL_STATUSES, "Status"),
        ],
        defaults=(
            "pay_date employee_id employee_name department pay_period_start "
            "pay_period_end gross_pay bonus tax_withheld deductions net_pay "
            "payroll_status"
        ),
        filters=(
            "department payment_method payroll_status currency employee_id "
            "pay_period_start gross_pay bonus net_pay"
        ),
        date_column="pay_date",
        key="payroll_id",
    ),
)

CATALOG: Mapping[ExportType, ExportDefinition] = {item.export_type: item for item in _DEFINITIONS}
_require(set(CATALOG) == set(ExportType), "every export type needs exactly one definition")


def get_definition(export_type: ExportType | str) -> ExportDefinition:
    """The definition of a type, accepting the type's name as a caller wrote it."""
    try:
        return CATALOG[ExportType(export_type)]
    except ValueError:
        allowed = ", ".join(ExportType)
        raise InvalidInputError("export_type", f"unknown export type; use one of {allowed}") from None


def is_sensitive(export_type: ExportType, settings: Settings) -> bool:
    return export_type in settings.sensitive_export_types


def may_export(role: Role, export_type: ExportType, settings: Settings) -> bool:
    """Sensitive types (settings.sensitive_export_types) are for super_admin and admin only."""
    return role in PRIVILEGED_ROLES or not is_sensitive(export_type, settings)
