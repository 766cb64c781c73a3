"""Bodies of the template routes."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from api.schemas.common import Body
from flows.exports.requests import printable_name
from flows.vocabulary import ExportFormat, ExportType

MAX_NAME_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 2000


TemplateName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME_LENGTH, description="1-255 printable characters."),
    AfterValidator(printable_name),
]
Columns = Annotated[
    list[str] | None,
    Field(description="Columns of the type's catalog, in order; null or left out: the type's defaults."),
]
Filters = Annotated[
    dict[str, Any], Field(description="Filters of the type's catalog (see GET /exports/types).")
]
Description = Annotated[str | None, Field(max_length=MAX_DESCRIPTION_LENGTH)]
IsPublic = Annotated[bool, Field(description="Public templates are readable (not changeable) by every user.")]


class TemplateCreate(Body):
    """A new template; also what an updated template has to be as a whole."""

    template_name: TemplateName
    export_type: ExportType
    format: ExportFormat
    columns: Columns = None
    filters: Filters = Field(default_factory=dict)
    description: Description = None
    is_public: IsPublic = False


class TemplateUpdate(Body):
    """Any subset of a template's fields; the template they give together is checked like a new one."""

    template_name: TemplateName | None = None
    export_type: ExportType | None = None
    format: ExportFormat | None = None
    columns: Columns = None
    filters: Filters | None = None
    description: Description = None
    is_public: IsPublic | None = None


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    template_name: str
    export_type: ExportType
    format: ExportFormat
    columns: list[str] = Field(description="Empty: the type's default columns.")
    filters: dict[str, Any]
    description: str | None
    is_public: bool
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
