"""Opening an export's query: rows counted (or estimated) before the first batch, values never SQL."""

import pytest

from flows.catalog.query import build_query
from flows.pipeline.extract import open_rows
from flows.pipeline.sources import Source
from flows.vocabulary import ExportType


def test_duckdb_counts_the_rows_exactly_before_the_first_batch(duckdb_warehouse: Source) -> None:
    query = build_query(ExportType.SALES, dialect=duckdb_warehouse.kind, filters={"region": "EMEA"})
    with open_rows(duckdb_warehouse, query, batch_rows=500) as rows:
        assert rows.exact
        expected = rows.expected_rows
        sizes = [batch.num_rows for batch in rows.batches]
    assert 0 < expected == sum(sizes)
    assert max(sizes) <= 500


def test_postgresql_estimates_unless_asked_to_count(postgres_warehouse: Source) -> None:
    query = build_query(ExportType.SALES, dialect=postgres_warehouse.kind, filters={"region": "EMEA"})
    with open_rows(postgres_warehouse, query, exact_count=True, batch_rows=500) as counted:
        assert counted.exact
        exact = counted.expected_rows
        assert exact == sum(batch.num_rows for batch in counted.batches) > 0
    with open_rows(postgres_warehouse, query) as estimated:
        assert not estimated.exact
        assert estimated.expected_rows > 0
        assert sum(batch.num_rows for batch in estimated.batches) == exact


@pytest.mark.parametrize("value", ["x' OR '1'='1", "x\\' OR 1=1 --", "%s", "$1", "O'Brien"])
def test_a_filter_value_is_only_ever_a_value(warehouse: Source, value: str) -> None:
    query = build_query(ExportType.CUSTOMERS, dialect=warehouse.kind, filters={"email": value})
    with open_rows(warehouse, query, exact_count=True) as rows:
        assert rows.expected_rows == 0
        assert list(rows.batches) == []
