"""The column model: identifiers, Arrow types and field metadata of every catalog column."""

import pyarrow as pa

from flows.catalog.definitions import CATALOG
from flows.catalog.model import IDENTIFIER, ValueType


def test_catalog_identifiers_and_arrow_types():
    expected_types = {
        ValueType.STRING: pa.string(),
        ValueType.INTEGER: pa.int64(),
        ValueType.BOOLEAN: pa.bool_(),
        ValueType.DATE: pa.date32(),
        ValueType.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    }
    for definition in CATALOG.values():
        assert IDENTIFIER.fullmatch(definition.export_type)
        for column in definition.columns:
            assert IDENTIFIER.fullmatch(column.name)
            wanted = expected_types.get(column.value_type) or pa.decimal128(18, column.scale)
            assert column.arrow_type == wanted
        for field in definition.arrow_schema():
            assert set(field.metadata) == {b"label", b"format"}
