"""The audit log: one helper every writer uses, so entries look the same wherever they come from."""

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from flows.appdb.models import AuditLog


@dataclass(frozen=True)
class Actor:
    """Who asked for a change: a user, and where the request came from when it came over HTTP."""

    user_id: uuid.UUID | None
    ip_address: str | None = None
    user_agent: str | None = None


SYSTEM = Actor(user_id=None)


def audit(
    session: Session,
    action: str,
    resource_id: object,
    details: dict[str, Any] | None = None,
    *,
    actor: Actor = SYSTEM,
    resource: str = "data_exports",
) -> None:
    """Add an entry to the session (the caller's transaction commits it); the default actor is the system."""
    entry = AuditLog(
        user_id=actor.user_id,
        action=action,
        resource=resource,
        resource_id=str(resource_id),
        ip_address=actor.ip_address,
        user_agent=actor.user_agent,
    )
    entry.details = details or {}
    session.add(entry)
