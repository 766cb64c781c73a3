"""Routes: list, create, update and delete export templates, checked against the catalog like exports."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.access import check_may_export, readable_templates, template_for
from api.deps import OriginDep, ServicesDep, SessionDep, require
from api.pagination import PageDep
from api.permissions import Permission
from api.schemas.common import ERROR_RESPONSES, Envelope, Page
from api.schemas.templates import TemplateCreate, TemplateOut, TemplateUpdate
from flows.appdb.models import ExportTemplate, User
from flows.catalog.query import check_choices
from flows.exports.audit import Actor, audit
from flows.exports.policy import may_export
from flows.exports.requests import parse_model
from flows.settings import Settings
from flows.vocabulary import ExportType, Role

router = APIRouter(tags=["templates"], responses=ERROR_RESPONSES)

RESOURCE = "export_templates"


@router.get("/exports/templates", response_model=Page[TemplateOut], summary="List templates")
def list_templates(
    services: ServicesDep,
    session: SessionDep,
    user: Annotated[User, require(Permission.TEMPLATES_READ)],
    page: PageDep,
    export_type: Annotated[ExportType | None, Query()] = None,
    is_public: Annotated[bool | None, Query()] = None,
) -> Page[TemplateOut]:
    """Templates the caller may read (their own and public ones; all for admins) of types they may export,
    newest first."""
    exportable = [item.value for item in ExportType if may_export(Role(user.role), item, services.settings)]
    conditions = [readable_templates(user), ExportTemplate.export_type.in_(exportable)]
    if export_type is not None:
        conditions.append(ExportTemplate.export_type == export_type.value)
    if is_public is not None:
        conditions.append(ExportTemplate.is_public.is_(is_public))
    newest_first = ExportTemplate.created_at.desc(), ExportTemplate.id
    ordered = select(ExportTemplate).where(*conditions).order_by(*newest_first)
    rows, pagination = page.of(session, ordered)
    return Page[TemplateOut](data=[TemplateOut.model_validate(row) for row in rows], pagination=pagination)


@router.post(
    "/exports/templates", status_code=201, response_model=Envelope[TemplateOut], summary="Create a template"
)
def create_template(
    body: TemplateCreate,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.TEMPLATES_CREATE)],
) -> Envelope[TemplateOut]:
    template = _checked(body.model_dump(), user, services.settings)
    row = ExportTemplate(created_by=user.id)
    _apply(row, template)
    session.add(row)
    session.flush()
    details = {"export_type": row.export_type, "format": row.format, "is_public": row.is_public}
    return _saved(session, row, "template_created", details, origin.actor(user))


@router.put(
    "/exports/templates/{template_id:uuid}", response_model=Envelope[TemplateOut], summary="Update a template"
)
def update_template(
    template_id: uuid.UUID,
    body: TemplateUpdate,
    services: ServicesDep,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.TEMPLATES_UPDATE)],
) -> Envelope[TemplateOut]:
    """Change any of the fields given; the template they make together is checked like a new one."""
    row = template_for(session, user, template_id, change=True)
    changes = body.model_dump(exclude_unset=True)
    template = _checked({**_fields(row), **changes}, user, services.settings)
    _apply(row, template)
    return _saved(session, row, "template_updated", {"fields": sorted(changes)}, origin.actor(user))


@router.delete(
    "/exports/templates/{template_id:uuid}", response_model=Envelope[TemplateOut], summary="Delete a template"
)
def delete_template(
    template_id: uuid.UUID,
    session: SessionDep,
    origin: OriginDep,
    user: Annotated[User, require(Permission.TEMPLATES_DELETE)],
) -> Envelope[TemplateOut]:
    """Remove the template (exports made from it keep their own copy of its fields; the audit row stays)."""
    row = template_for(session, user, template_id, change=True)
    out = TemplateOut.model_validate(row)
    details = {"template_name": row.template_name, "export_type": row.export_type}
    session.delete(row)
    audit(session, "template_deleted", row.id, details, actor=origin.actor(user), resource=RESOURCE)
    session.commit()
    return Envelope(data=out)


def _saved(
    session: Session, row: ExportTemplate, action: str, details: dict[str, Any], actor: Actor
) -> Envelope[TemplateOut]:
    """Audit the change, commit it and answer with the template as stored."""
    audit(session, action, row.id, details, actor=actor, resource=RESOURCE)
    session.commit()
    session.refresh(row)
    return Envelope(data=TemplateOut.model_validate(row))


def _checked(data: dict[str, Any], user: User, settings: Settings) -> TemplateCreate:
    """A whole template from `data`: its fields, the caller's right to its type, then its columns and
    filters against the catalog (as an export request is checked); InvalidInputError names the field."""
    template = parse_model(TemplateCreate, data)
    check_may_export(user, template.export_type, settings)
    check_choices(template.export_type, columns=template.columns, filters=template.filters)
    return template


def _fields(row: ExportTemplate) -> dict[str, Any]:
    """A stored template as the fields of a body."""
    return {
        "template_name": row.template_name,
        "export_type": row.export_type,
        "format": row.format,
        "columns": row.columns or None,
        "filters": row.filters,
        "description": row.description,
        "is_public": row.is_public,
    }


def _apply(row: ExportTemplate, template: TemplateCreate) -> None:
    row.template_name = template.template_name
    row.export_type = template.export_type.value
    row.format = template.format.value
    row.columns = template.columns or []
    row.filters = template.filters
    row.description = template.description
    row.is_public = template.is_public
