"""Object-level rules: which exports and templates a caller may see or change, in one place.

A manager sees and acts on their own exports and templates (public templates are readable by
all); admins and super_admins see all. What a caller may not see is a 404, never a 403.
"""

import uuid

from sqlalchemy import ColumnElement, or_, true
from sqlalchemy.orm import Session

from api.errors import ApiError, not_found
from api.permissions import sees_everyones_objects
from flows.appdb.models import DataExport, ExportTemplate, User
from flows.exports.policy import may_export
from flows.settings import Settings
from flows.vocabulary import ExportType, Role


def visible_exports(user: User) -> ColumnElement[bool]:
    """WHERE clause of the exports `user` may see: not deleted, and their own unless privileged."""
    scope: ColumnElement[bool] = DataExport.deleted_at.is_(None)
    if not sees_everyones_objects(Role(user.role)):
        scope = scope & (DataExport.created_by == user.id)
    return scope


def visible_export(session: Session, user: User, export_id: uuid.UUID, *, lock: bool = False) -> DataExport:
    row = session.get(DataExport, export_id, with_for_update=lock)
    if row is None or row.deleted_at is not None:
        raise not_found()
    if row.created_by != user.id and not sees_everyones_objects(Role(user.role)):
        raise not_found()
    return row


def readable_templates(user: User) -> ColumnElement[bool]:
    """WHERE clause of the templates `user` may read: public ones, their own, or all if privileged."""
    if sees_everyones_objects(Role(user.role)):
        return true()
    return or_(ExportTemplate.is_public.is_(True), ExportTemplate.created_by == user.id)


def template_for(
    session: Session, user: User, template_id: uuid.UUID, *, change: bool, field: str = "id"
) -> ExportTemplate:
    """A template the user may read (or, with `change`, update and delete), else 404 naming `field`."""
    template = session.get(ExportTemplate, template_id)
    own = template is not None and (template.created_by == user.id or sees_everyones_objects(Role(user.role)))
    if template is None or (not own and (change or not template.is_public)):
        raise ApiError(404, "template not found", field=field)
    return template


def check_may_export(
    user: User, export_type: ExportType | str, settings: Settings, *, field: str = "export_type"
) -> None:
    """403 naming the field when the caller's role may not export this (sensitive) type."""
    if not may_export(Role(user.role), ExportType(export_type), settings):
        raise ApiError(403, f"role {user.role} may not export {export_type} data", field=field)
