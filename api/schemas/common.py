"""The seed's envelope: `{"success": true, "data": ..., "pagination": ...}` and its error form."""

import math
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Body(BaseModel):
    """Base of request bodies: an unknown field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Envelope(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: T


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    pages: int

    @classmethod
    def of(cls, page: int, limit: int, total: int) -> "Pagination":
        return cls(page=page, limit=limit, total=total, pages=math.ceil(total / limit) if total else 0)


class Page(BaseModel, Generic[T]):
    success: Literal[True] = True
    data: list[T]
    pagination: Pagination


class ErrorItem(BaseModel):
    field: str | None = Field(description="The input at fault (body field, query parameter, header), if one.")
    message: str
    code: str = Field(description="Stable machine-readable code, e.g. validation_error, not_found.")


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    errors: list[ErrorItem]
    request_id: str | None = Field(
        default=None, description="Present on 500s; also in the X-Request-ID header."
    )


def envelope(data: T) -> Envelope[T]:
    return Envelope[T](data=data)


ERROR_STATUSES = (400, 401, 403, 404, 409, 410, 429, 500)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope} for status in ERROR_STATUSES
}
# For routes whose success is not JSON (FastAPI files `model` responses under the route's own
# media type): errors are still the JSON envelope.
JSON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": "Error",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }
    for status in ERROR_STATUSES
}
