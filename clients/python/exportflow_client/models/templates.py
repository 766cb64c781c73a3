"""Bodies of the template routes."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from exportflow_client.models.common import RequestBody
from exportflow_client.models.vocabulary import ExportFormat, ExportType


class TemplateCreate(RequestBody):
    """A new template; public ones are readable (not changeable) by every user."""

    template_name: str
    export_type: ExportType
    format: ExportFormat
    columns: list[str] | None = None
    filters: dict[str, Any] = Field(default_factory=dict)
    description: str | None = None
    is_public: bool = False


class TemplateUpdate(RequestBody):
    """Any subset of a template's fields."""

    template_name: str | None = None
    export_type: ExportType | None = None
    format: ExportFormat | None = None
    columns: list[str] | None = None
    filters: dict[str, Any] | None = None
    description: str | None = None
    is_public: bool | None = None


class TemplateOut(BaseModel):
    """A template; empty `columns` mean the type's defaults."""

    id: uuid.UUID
    template_name: str
    export_type: ExportType
    format: ExportFormat
    columns: list[str]
    filters: dict[str, Any]
    description: str | None
    is_public: bool
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
