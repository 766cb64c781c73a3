"""Every failure as the seed's envelope, mapped to HTTP in this one place.

`{"success": false, "errors": [{"field", "message", "code"}]}`; a 500 (or a 503 for an outage a retry
can outlast) says nothing internal and carries the request id that the log line carries too.
"""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from flows.errors import InvalidInputError, is_transient

logger = logging.getLogger("exportflow.api")

STATUS_CODES: Mapping[int, str] = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
OUTAGE_RETRY_AFTER_SECONDS = 2
"""What a 503 for an outage (the app database restarting, say) asks the caller to wait."""


class ApiError(Exception):
    """An error the caller can act on; raised anywhere below a route, answered by the handler."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.code = code or STATUS_CODES.get(status, "error")
        self.headers = dict(headers or {})


def not_found(resource: str = "export") -> ApiError:
    return ApiError(404, f"{resource} not found", field="id")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, field="authorization", headers={"WWW-Authenticate": "Bearer"})


def error_body(errors: Sequence[Mapping[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"success": False, "errors": list(errors), **extra}


def _response(
    request: Request, status: int, errors: Sequence[Mapping[str, Any]], **kwargs: Any
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    extra = {"request_id": request_id} if status >= 500 else {}
    response = JSONResponse(error_body(errors, **extra), status_code=status, **kwargs)
    if request_id:
        response.headers["X-Request-ID"] = request_id
    return response


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    item = {"field": error.field, "message": error.message, "code": error.code}
    return _response(request, error.status, [item], headers=error.headers)


async def _invalid_input(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidInputError)
    item = {"field": error.field, "message": error.message, "code": STATUS_CODES[400]}
    return _response(request, 400, [item])


async def _request_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    items = [
        {
            "field": "body" if detail["type"] == "json_invalid" else _field_name(detail["loc"]),
            "message": _message(detail),
            "code": STATUS_CODES[400],
        }
        for detail in error.errors()
    ]
    return _response(request, 400, items)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    item = {"field": None, "message": str(error.detail), "code": STATUS_CODES.get(error.status_code, "error")}
    return _response(request, error.status_code, [item], headers=error.headers)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    """A 500; a 503 with Retry-After when the error is an outage a retry can outlast (the app database
    restarting, a lost connection). Logged with its traceback either way."""
    request_id = getattr(request.state, "request_id", None)
    logger.exception("unhandled error in %s %s (request %s)", request.method, request.url.path, request_id)
    if is_transient(error):
        message = "a service the API needs is unavailable for a moment; retry shortly"
        item = {"field": None, "message": message, "code": STATUS_CODES[503]}
        return _response(request, 503, [item], headers={"Retry-After": str(OUTAGE_RETRY_AFTER_SECONDS)})
    message = "internal error; quote the request id when reporting it"
    item = {"field": None, "message": message, "code": STATUS_CODES[500]}
    return _response(request, 500, [item])


def _field_name(location: Sequence[object]) -> str:
    """('body', 'filters', 'amount') → 'filters.amount'; ('body', 'columns', 1) → 'columns[1]';
    ('query', 'page') → 'page' (as flows/ names fields in InvalidInputError)."""
    if len(location) > 1 and location[0] in {"query", "path", "header"}:
        return str(location[1])  # parameters are single values; further parts name a union member
    parts = location[1:] if len(location) > 1 and location[0] == "body" else location
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _message(detail: Mapping[str, Any]) -> str:
    message = str(detail.get("msg", "invalid value"))
    if detail.get("type") == "extra_forbidden":
        return "unknown field"
    return message.removeprefix("Value error, ")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InvalidInputError, _invalid_input)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
