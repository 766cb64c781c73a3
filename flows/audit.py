"""The audit log: one helper every writer uses, so entries look the same wherever they come from."""

import uuid
from typing import Any

from sqlalchemy.orm import Session

from flows.models import AuditLog


def audit(
    session: Session,
    action: str,
    resource_id: object,
    details: dict[str, Any] | None = None,
    *,
    user_id: uuid.UUID | None = None,
    resource: str = "data_exports",
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Add an entry to the session (the caller's transaction commits it); user None = the system."""
    entry = AuditLog(
        user_id=user_id,
        action=action,
        resource=resource,
        resource_id=str(resource_id),
        ip_address=ip_address,
        user_agent=user_agent,
    )
    entry.details = details or {}
    session.add(entry)
