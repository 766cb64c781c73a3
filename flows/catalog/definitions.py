"""The export types: their SQL file, columns, filters, date column and sort order.

Everything a caller may name (columns, filters, sort keys) is listed here; the query builder
(flows/catalog/query.py) accepts nothing else. Definitions are checked when this module is imported.
Which types are sensitive is a setting (flows/exports/policy.py applies it).
"""

from collections.abc import Mapping

from flows.catalog.model import (
    ExportDefinition,
    day,
    define,
    enum,
    flag,
    instant,
    integer,
    money,
    note,
    number,
    percent,
    require,
    text,
)
from flows.errors import InvalidInputError
from flows.vocabulary import ExportType

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
require(set(CATALOG) == set(ExportType), "every export type needs exactly one definition")


def get_definition(export_type: ExportType | str) -> ExportDefinition:
    """The definition of a type, accepting the type's name as a caller wrote it."""
    try:
        return CATALOG[ExportType(export_type)]
    except ValueError:
        allowed = ", ".join(ExportType)
        raise InvalidInputError("export_type", f"unknown export type; use one of {allowed}") from None
