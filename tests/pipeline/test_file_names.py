"""File names and storage keys of exports."""

from datetime import UTC, datetime

import pytest

from flows.pipeline.file_names import export_file_name, slugify

WHEN = datetime(2026, 3, 29, 1, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Q1 Sales", "q1-sales"),
        ("Zoë's «report» — Ünïcode", "zoe-s-report-unicode"),
        ("../../etc/passwd", "etc-passwd"),
        ("Отчёт 東京", "export"),
        ("", "export"),
        ("a" * 100, "a" * 60),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_file_name() -> None:
    assert export_file_name("Q1 Sales", WHEN, "xlsx") == "q1-sales_20260329-013005.xlsx"
