"""What every route shares: the base of request bodies, list pagination and the error envelope."""

from typing import Literal

from pydantic import BaseModel, ConfigDict


class RequestBody(BaseModel):
    """Base of what the client sends: an unknown field fails here already, not only at the server."""

    model_config = ConfigDict(extra="forbid")


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    pages: int


class ErrorItem(BaseModel):
    """One mistake: the input at fault (body field, query parameter, header) if one, and a stable code."""

    field: str | None
    message: str
    code: str


class ErrorEnvelope(BaseModel):
    """An error answer's body; `request_id` is set on 500s (also in the X-Request-ID header)."""

    success: Literal[False] = False
    errors: list[ErrorItem]
    request_id: str | None = None
