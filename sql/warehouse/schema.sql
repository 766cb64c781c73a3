-- Demo warehouse: the source data behind the eight export types.
-- One definition for DuckDB and PostgreSQL: only types and syntax both accept
-- (VARCHAR, TEXT, INTEGER, BIGINT, DECIMAL, BOOLEAN, DATE, TIMESTAMPTZ, CHECK).
-- Money is DECIMAL, instants are TIMESTAMPTZ (stored in UTC), enums are CHECKed VARCHARs.
-- Statements are separated by semicolons at line ends; no semicolon appears elsewhere.

CREATE TABLE IF NOT EXISTS warehouse_meta (
    generated_at TIMESTAMPTZ NOT NULL,
    seed INTEGER NOT NULL,
    base_rows BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS regions (
    region VARCHAR(16) PRIMARY KEY,
    region_name VARCHAR(64) NOT NULL
);

CREATE TABLE IF NOT EXISTS stores (
    store_id INTEGER PRIMARY KEY,
    store_name VARCHAR(120) NOT NULL,
    region VARCHAR(16) NOT NULL CHECK (region IN ('NA', 'LATAM', 'EMEA', 'APAC')),
    country VARCHAR(64) NOT NULL,
    city VARCHAR(64) NOT NULL,
    timezone VARCHAR(64) NOT NULL,
    opened_on DATE NOT NULL
);

CREATE TABLE IF NOT EXISTS products (
    product_id INTEGER PRIMARY KEY,
    sku VARCHAR(32) NOT NULL,
    product_name VARCHAR(200) NOT NULL,
    category VARCHAR(32) NOT NULL CHECK (category IN ('electronics', 'apparel', 'home', 'grocery', 'beauty', 'sports', 'toys', 'books')),
    unit_price DECIMAL(12, 2) NOT NULL,
    unit_cost DECIMAL(12, 2) NOT NULL,
    is_discontinued BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS customers (
    customer_id BIGINT PRIMARY KEY,
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    email VARCHAR(255),
    phone VARCHAR(40),
    company_name VARCHAR(200),
    segment VARCHAR(20) NOT NULL CHECK (segment IN ('consumer', 'small_business', 'enterprise', 'government')),
    region VARCHAR(16) NOT NULL CHECK (region IN ('NA', 'LATAM', 'EMEA', 'APAC')),
    country VARCHAR(64) NOT NULL,
    city VARCHAR(64),
    signup_date DATE NOT NULL,
    last_order_at TIMESTAMPTZ,
    lifetime_value DECIMAL(14, 2) NOT NULL,
    is_active BOOLEAN NOT NULL,
    marketing_opt_in BOOLEAN NOT NULL,
    notes TEXT
);

CREATE TABLE IF NOT EXISTS sales (
    sale_id BIGINT PRIMARY KEY,
    order_number VARCHAR(32) NOT NULL,
    sold_at TIMESTAMPTZ NOT NULL,
    sale_date DATE NOT NULL,
    customer_id BIGINT NOT NULL,
    product_id INTEGER NOT NULL,
    store_id INTEGER NOT NULL,
    region VARCHAR(16) NOT NULL CHECK (region IN ('NA', 'LATAM', 'EMEA', 'APAC')),
    channel VARCHAR(16) NOT NULL CHECK (channel IN ('store', 'online', 'phone', 'partner')),
    quantity INTEGER NOT NULL,
    unit_price DECIMAL(12, 2) NOT NULL,
    discount_amount DECIMAL(12, 2) NOT NULL,
    tax_amount DECIMAL(12, 2) NOT NULL,
    total_amount DECIMAL(14, 2) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    payment_method VARCHAR(16) NOT NULL CHECK (payment_method IN ('card', 'cash', 'bank_transfer', 'invoice', 'voucher')),
    status VARCHAR(16) NOT NULL CHECK (status IN ('completed', 'pending', 'refunded', 'cancelled')),
    notes TEXT
);

CREATE TABLE IF NOT EXISTS inventory (
    inventory_id BIGINT PRIMARY KEY,
    snapshot_date DATE NOT NULL,
    product_id INTEGER NOT NULL,
    store_id INTEGER NOT NULL,
    quantity_on_hand INTEGER NOT NULL,
    quantity_reserved INTEGER NOT NULL,
    reorder_level INTEGER NOT NULL,
    unit_cost DECIMAL(12, 2) NOT NULL,
    stock_value DECIMAL(14, 2) NOT NULL,
    last_restocked_at TIMESTAMPTZ,
    stock_status VARCHAR(16) NOT NULL CHECK (stock_status IN ('in_stock', 'low_stock', 'out_of_stock', 'discontinued'))
);

CREATE TABLE IF NOT EXISTS employees (
    employee_id INTEGER PRIMARY KEY,
    first_name VARCHAR(100) NOT NULL,
    last_name VARCHAR(100) NOT NULL,
    email VARCHAR(255) NOT NULL,
    phone VARCHAR(40),
    department VARCHAR(20) NOT NULL CHECK (department IN ('sales', 'operations', 'finance', 'marketing', 'engineering', 'hr', 'support', 'logistics')),
    job_title VARCHAR(120) NOT NULL,
    region VARCHAR(16) NOT NULL CHECK (region IN ('NA', 'LATAM', 'EMEA', 'APAC')),
    hire_date DATE NOT NULL,
    termination_date DATE,
    employment_type VARCHAR(16) NOT NULL CHECK (employment_type IN ('full_time', 'part_time', 'contractor', 'intern')),
    manager_id INTEGER,
    annual_salary DECIMAL(12, 2) NOT NULL,
    is_active BOOLEAN NOT NULL,
    notes TEXT
);

CREATE TABLE IF NOT EXISTS attendance (
    attendance_id BIGINT PRIMARY KEY,
    employee_id INTEGER NOT NULL,
    work_date DATE NOT NULL,
    clock_in_at TIMESTAMPTZ,
    clock_out_at TIMESTAMPTZ,
    hours_worked DECIMAL(5, 2) NOT NULL,
    overtime_hours DECIMAL(5, 2) NOT NULL,
    attendance_status VARCHAR(16) NOT NULL CHECK (attendance_status IN ('present', 'late', 'absent', 'remote', 'sick_leave', 'vacation')),
    notes TEXT
);

CREATE TABLE IF NOT EXISTS payroll (
    payroll_id BIGINT PRIMARY KEY,
    employee_id INTEGER NOT NULL,
    pay_period_start DATE NOT NULL,
    pay_period_end DATE NOT NULL,
    pay_date DATE NOT NULL,
    gross_pay DECIMAL(12, 2) NOT NULL,
    bonus DECIMAL(12, 2) NOT NULL,
    tax_withheld DECIMAL(12, 2) NOT NULL,
    deductions DECIMAL(12, 2) NOT NULL,
    net_pay DECIMAL(12, 2) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    payment_method VARCHAR(16) NOT NULL CHECK (payment_method IN ('bank_transfer', 'check', 'cash')),
    payroll_status VARCHAR(16) NOT NULL CHECK (payroll_status IN ('paid', 'pending', 'reversed'))
);

CREATE TABLE IF NOT EXISTS ledger_entries (
    entry_id BIGINT PRIMARY KEY,
    entry_date DATE NOT NULL,
    posted_at TIMESTAMPTZ NOT NULL,
    account_code VARCHAR(10) NOT NULL,
    account_name VARCHAR(120) NOT NULL,
    account_category VARCHAR(16) NOT NULL CHECK (account_category IN ('revenue', 'expense', 'asset', 'liability', 'equity')),
    department VARCHAR(20) NOT NULL CHECK (department IN ('sales', 'operations', 'finance', 'marketing', 'engineering', 'hr', 'support', 'logistics')),
    region VARCHAR(16) NOT NULL CHECK (region IN ('NA', 'LATAM', 'EMEA', 'APAC')),
    description TEXT,
    debit DECIMAL(14, 2) NOT NULL,
    credit DECIMAL(14, 2) NOT NULL,
    amount DECIMAL(14, 2) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    reference VARCHAR(40),
    is_reconciled BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS marketing_campaigns (
    campaign_id INTEGER PRIMARY KEY,
    campaign_name VARCHAR(200) NOT NULL,
    channel VARCHAR(16) NOT NULL CHECK (channel IN ('email', 'social', 'search', 'display', 'events', 'affiliate')),
    region VARCHAR(16) NOT NULL CHECK (region IN ('NA', 'LATAM', 'EMEA', 'APAC')),
    start_date DATE NOT NULL,
    end_date DATE,
    launched_at TIMESTAMPTZ,
    budget DECIMAL(12, 2) NOT NULL,
    spend DECIMAL(12, 2) NOT NULL,
    impressions BIGINT NOT NULL,
    clicks BIGINT NOT NULL,
    conversions INTEGER NOT NULL,
    attributed_revenue DECIMAL(14, 2) NOT NULL,
    campaign_status VARCHAR(16) NOT NULL CHECK (campaign_status IN ('planned', 'active', 'paused', 'completed')),
    owner_employee_id INTEGER,
    notes TEXT
);
