"""The typed client against the real app (in-process through TestClient; no Prefect: exports stay pending)."""

import hashlib
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exportflow_client import (
    Conflict,
    ExecuteByType,
    ExportCreate,
    ExportflowClient,
    ExportFormat,
    ExportStatus,
    ExportType,
    Forbidden,
    InvalidRequest,
    NotFound,
    TemplateCreate,
    TemplateUpdate,
    Unauthorized,
)
from flows.exports.lifecycle import fail_export
from flows.settings import Settings
from tests.api.conftest import Caller, MakeExport

pytest_plugins = ["tests.fixtures_s3"]

SALES = ExportCreate(export_name="Q3 sales", export_type=ExportType.SALES, format=ExportFormat.CSV)


@pytest.fixture
def api(client: TestClient, manager: Caller) -> ExportflowClient:
    return ExportflowClient(token=manager.token, http=client)


def test_exports_round_trip(api: ExportflowClient) -> None:
    created = api.create_export(SALES, idempotency_key="q3")
    again = api.create_export(SALES, idempotency_key="q3")
    executed = api.execute_type(ExportType.INVENTORY, ExecuteByType(format=ExportFormat.JSON))

    listed, pagination = api.list_exports(sort_by="export_name", sort_order="asc")

    assert again.id == created.id
    assert executed.priority == "high"
    assert [row.export_name for row in listed] == sorted(row.export_name for row in listed)
    assert pagination.total == 2
    assert api.get_export(created.id, include_details=True).statistics == []
    assert api.status(created.id).status is ExportStatus.PENDING
    assert api.cancel(created.id).status is ExportStatus.CANCELLED
    assert api.wait(created.id).status is ExportStatus.CANCELLED
    assert api.retry(created.id).retry_of == created.id
    assert api.delete_export(executed.id).id == executed.id


def test_errors_are_typed_and_name_their_field(api: ExportflowClient, client: TestClient) -> None:
    with pytest.raises(InvalidRequest) as invalid:
        api.create_export(SALES.model_copy(update={"columns": ["nope"]}))
    with pytest.raises(Forbidden):
        api.create_export(SALES.model_copy(update={"export_type": ExportType.PAYROLL}))
    with pytest.raises(NotFound):
        api.status(uuid.uuid4())
    with pytest.raises(Unauthorized):
        ExportflowClient(token="ef_not-a-token", http=client).list_exports()
    created = api.create_export(SALES)
    api.cancel(created.id)
    with pytest.raises(Conflict):
        api.cancel(created.id)

    assert invalid.value.errors[0].field == "columns[0]"
    assert invalid.value.status == 400


def test_events_follow_an_export_to_its_end(
    api: ExportflowClient, api_settings: Settings, sessions: object
) -> None:
    created = api.create_export(SALES)
    assert fail_export(sessions, created.id, "source unreachable")  # type: ignore[arg-type]

    statuses = list(api.events(created.id))

    assert [status.status for status in statuses] == [ExportStatus.FAILED]
    assert statuses[0].error_message == "source unreachable"


def test_download_saves_the_file_after_checking_it(
    api: ExportflowClient, api_settings: Settings, manager: Caller, make_export: MakeExport, tmp_path: Path
) -> None:
    export_id = make_export(api_settings, manager)
    target = tmp_path / "q1.csv"

    link = api.download(export_id, target)

    assert hashlib.sha256(target.read_bytes()).hexdigest() == link.checksum_sha256
    assert not list(tmp_path.glob(".*.part"))


def test_templates_types_and_statistics(api: ExportflowClient, client: TestClient, admin: Caller) -> None:
    template = api.create_template(
        TemplateCreate(template_name="Weekly", export_type=ExportType.SALES, format=ExportFormat.EXCEL)
    )
    updated = api.update_template(template.id, TemplateUpdate(description="every Monday"))
    listed, _ = api.list_templates()
    as_admin = ExportflowClient(token=admin.token, http=client)

    assert updated.description == "every Monday"
    assert template.id in [item.id for item in listed]
    assert api.delete_template(template.id).id == template.id
    assert ExportType.PAYROLL not in [item.export_type for item in api.types()]
    assert as_admin.statistics(date_from="1990-01-01", date_to="1990-01-02").total_exports == 0
    assert as_admin.analytics(date_from="1990-01-01", date_to="1990-01-02").total_exports == 0
    with pytest.raises(Forbidden):
        api.statistics()
