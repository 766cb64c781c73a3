"""Who may export what: sensitive types are for the privileged roles only."""

from pathlib import Path

import pytest

from flows.exports.policy import may_export
from flows.settings import Settings
from flows.vocabulary import ExportType, Role


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path)


def test_sensitive_types_are_for_admins_only(settings: Settings):
    for export_type in ExportType:
        sensitive = export_type in (ExportType.PAYROLL, ExportType.STAFF)
        assert may_export(Role.SUPER_ADMIN, export_type, settings)
        assert may_export(Role.ADMIN, export_type, settings)
        assert may_export(Role.MANAGER, export_type, settings) is not sensitive


def test_sensitive_types_come_from_settings(tmp_path: Path):
    settings = Settings(home=tmp_path, sensitive_export_types=[ExportType.SALES])
    assert not may_export(Role.MANAGER, ExportType.SALES, settings)
    assert may_export(Role.MANAGER, ExportType.PAYROLL, settings)
    assert may_export(Role.ADMIN, ExportType.SALES, settings)
