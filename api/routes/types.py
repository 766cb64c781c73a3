"""Route: the export types the caller may export, with everything a request may choose for each."""

from typing import Annotated

from fastapi import APIRouter

from api.deps import ServicesDep, require
from api.permissions import Permission
from api.schemas.common import ERROR_RESPONSES, Envelope
from api.schemas.types import ColumnOut, ExportTypeOut, FilterOut, SortOut
from flows.appdb.models import User
from flows.catalog.definitions import CATALOG
from flows.catalog.model import ExportDefinition
from flows.catalog.query import OPERATORS, Operator
from flows.exports.policy import is_sensitive, may_export
from flows.vocabulary import ExportFormat, Role

router = APIRouter(tags=["types"], responses=ERROR_RESPONSES)


@router.get("/exports/types", response_model=Envelope[list[ExportTypeOut]], summary="List export types")
def list_types(
    services: ServicesDep, user: Annotated[User, require(Permission.EXPORTS_READ)]
) -> Envelope[list[ExportTypeOut]]:
    """Each type the caller's role may export (sensitive ones only for admins), in catalog order."""
    role = Role(user.role)
    data = [
        _type_out(definition, is_sensitive(export_type, services.settings))
        for export_type, definition in CATALOG.items()
        if may_export(role, export_type, services.settings)
    ]
    return Envelope(data=data)


def _type_out(definition: ExportDefinition, sensitive: bool) -> ExportTypeOut:
    return ExportTypeOut(
        export_type=definition.export_type,
        label=definition.label,
        description=definition.description,
        sensitive=sensitive,
        columns=[
            ColumnOut(
                name=column.name,
                label=column.label,
                type=column.value_type,
                format=column.display_format,
                sortable=column.sortable,
                allowed_values=list(column.allowed_values),
            )
            for column in definition.columns
        ],
        default_columns=list(definition.default_columns),
        filters=[
            FilterOut(
                name=item.name,
                kind=item.kind,
                operators=[operator for operator in Operator if operator in OPERATORS[item.kind]],
            )
            for item in definition.filters
        ],
        date_column=definition.date_column,
        default_sort=SortOut(
            column=definition.default_sort.column, direction=definition.default_sort.direction
        ),
        formats=list(ExportFormat),
    )
