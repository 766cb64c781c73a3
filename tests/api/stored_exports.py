"""Export rows read and changed directly, for the download tests (API downloads, recipient pages,
cleanup)."""

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from flows.appdb.engine import transaction
from flows.appdb.models import DataExport


def row_of(sessions: sessionmaker[Session], export_id: uuid.UUID) -> DataExport:
    with sessions() as session:
        return session.get_one(DataExport, export_id)


def change_row(sessions: sessionmaker[Session], export_id: uuid.UUID, **values: Any) -> None:
    with transaction(sessions) as session:
        session.execute(update(DataExport).where(DataExport.id == export_id).values(**values))
