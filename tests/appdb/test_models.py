"""App-database models on SQLite and PostgreSQL: constraints, UTC instants, and a kept audit trail."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flows.appdb.models import AuditLog, DataExport, ExportDownloadLog, ExportSchedule, ExportStatistic, User
from flows.vocabulary import ExportStatus


def _add(session: Session, row: object) -> None:
    session.add(row)
    session.flush()


def _user(session: Session, role: str = "manager") -> User:
    user = User(email=f"{uuid.uuid4().hex[:10]}@example.com", role=role, first_name="Zoë", last_name="Ørsted")
    session.add(user)
    session.flush()
    return user


def _export(session: Session, user: User, **overrides: object) -> DataExport:
    values: dict[str, object] = {
        "export_name": "Q1 sales",
        "export_type": "sales",
        "format": "excel",
        "created_by": user.id,
    }
    values.update(overrides)
    export = DataExport(**values)
    session.add(export)
    session.flush()
    return export


def test_defaults_and_json_round_trip(db_session: Session) -> None:
    user = _user(db_session)
    export = _export(
        db_session,
        user,
        filters={"region": ["EMEA"], "note": "Zoë, 東京 «quoted»"},
        columns=["sale_id", "total_amount"],
        recipients=["a@example.com"],
    )
    db_session.expire_all()
    loaded = db_session.get(DataExport, export.id)
    assert loaded is not None
    assert loaded.status == ExportStatus.PENDING
    assert loaded.priority == "normal"
    assert loaded.attempt == 1
    assert loaded.progress_percentage == 0
    assert loaded.filters == {"region": ["EMEA"], "note": "Zoë, 東京 «quoted»"}
    assert loaded.columns == ["sale_id", "total_amount"]
    assert loaded.created_at.tzinfo is not None


def test_instants_come_back_as_the_same_utc_instant(db_session: Session) -> None:
    user = _user(db_session)
    berlin_noon = datetime(2026, 3, 29, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    export = _export(db_session, user, started_at=berlin_noon)
    db_session.expire_all()
    loaded = db_session.get(DataExport, export.id)
    assert loaded is not None
    assert loaded.started_at == berlin_noon
    assert loaded.started_at is not None
    assert loaded.started_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db_session: Session) -> None:
    user = _user(db_session)
    with pytest.raises(Exception, match="naive datetime"):
        _export(db_session, user, started_at=datetime(2026, 1, 1, 12, 0))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("export_type", "secrets"),
        ("format", "xls"),
        ("status", "done"),
        ("priority", "urgent"),
        ("progress_percentage", 101),
        ("attempt", 0),
    ],
)
def test_check_constraints_reject_values_outside_the_contract(
    db_session: Session, column: str, value: object
) -> None:
    user = _user(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        _export(db_session, user, **{column: value})


def test_contract_values_are_accepted(db_session: Session) -> None:
    user = _user(db_session)
    for export_format in ("csv", "excel", "pdf", "json", "parquet"):
        _export(db_session, user, format=export_format)
    for status in ("pending", "processing", "completed", "failed", "cancelled", "expired"):
        _export(db_session, user, status=status)


def test_roles_and_frequencies_are_checked(db_session: Session) -> None:
    with pytest.raises(IntegrityError), db_session.begin_nested():
        _user(db_session, role="owner")
    user = _user(db_session, role="admin")
    fortnightly = ExportSchedule(
        schedule_name="every fortnight",
        export_type="sales",
        format="csv",
        frequency="fortnightly",
        next_run=datetime.now(UTC),
        created_by=user.id,
    )
    with pytest.raises(IntegrityError), db_session.begin_nested():
        _add(db_session, fortnightly)


def test_idempotency_key_is_unique_per_user(db_session: Session) -> None:
    first, second = _user(db_session), _user(db_session)
    _export(db_session, first, idempotency_key="k-1")
    _export(db_session, second, idempotency_key="k-1")
    _export(db_session, first, idempotency_key=None)
    _export(db_session, first, idempotency_key=None)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        _export(db_session, first, idempotency_key="k-1")


def test_emails_are_unique(db_session: Session) -> None:
    user = _user(db_session)
    with pytest.raises(IntegrityError), db_session.begin_nested():
        _add(db_session, User(email=user.email, role="admin"))


def test_expiry_keeps_statistics_download_logs_and_audit(db_session: Session) -> None:
    user = _user(db_session)
    export = _export(db_session, user, status="completed")
    db_session.add_all(
        [
            ExportStatistic(
                export_id=export.id, duration_ms=1200, file_size=10, record_count=3, success=True
            ),
            ExportDownloadLog(
                export_id=export.id, downloaded_by=user.id, ip_address="203.0.113.7", user_agent="curl/8"
            ),
            AuditLog(
                user_id=user.id, action="export_created", resource="data_exports", resource_id=str(export.id)
            ),
        ]
    )
    db_session.flush()

    export.status = ExportStatus.EXPIRED
    export.file_path = None
    export.deleted_at = datetime.now(UTC)
    db_session.flush()

    assert db_session.scalars(select(ExportStatistic).where(ExportStatistic.export_id == export.id)).one()
    assert db_session.scalars(select(ExportDownloadLog).where(ExportDownloadLog.export_id == export.id)).one()
    assert db_session.scalars(select(AuditLog).where(AuditLog.resource_id == str(export.id))).one()


def test_a_hard_delete_cannot_cascade_the_audit_trail_away(db_session: Session) -> None:
    user = _user(db_session)
    export = _export(db_session, user)
    db_session.add(
        ExportStatistic(export_id=export.id, duration_ms=5, file_size=0, record_count=0, success=False)
    )
    db_session.flush()
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(delete(DataExport).where(DataExport.id == export.id))
    assert db_session.scalars(select(ExportStatistic).where(ExportStatistic.export_id == export.id)).one()
