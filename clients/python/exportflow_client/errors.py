"""Typed errors of the API's error answers, one class per status, built from the error envelope."""

from collections.abc import Mapping

import httpx

from exportflow_client.models.common import ErrorEnvelope, ErrorItem

TEXT_LIMIT = 500
"""Characters of a body that is not the envelope kept as its one error's message."""


class ExportflowClientError(Exception):
    """An error answer of the API: its status and the envelope's errors (field, message, code)."""

    def __init__(self, status: int, errors: list[ErrorItem], request_id: str | None = None) -> None:
        self.status = status
        self.errors = errors
        self.request_id = request_id
        first = errors[0] if errors else None
        where = f" ({first.field})" if first and first.field else ""
        super().__init__(f"{status}{where}: {first.message if first else 'no details'}")


class InvalidRequest(ExportflowClientError):
    """400: a field of the request is wrong (see `errors[i].field`)."""


class Unauthorized(ExportflowClientError):
    """401: missing, expired or revoked credentials."""


class Forbidden(ExportflowClientError):
    """403: the role lacks the permission, or may not export the type."""


class NotFound(ExportflowClientError):
    """404: no such object, or not one the caller may see."""


class Conflict(ExportflowClientError):
    """409: not in a state that allows this (e.g. cancelling a finished export)."""


class Gone(ExportflowClientError):
    """410: the export's file expired."""


class RateLimited(ExportflowClientError):
    """429: come back after `retry_after` seconds."""

    retry_after: int | None = None


class ServerError(ExportflowClientError):
    """5xx: the server failed; `request_id` identifies it in the server's log."""


ERRORS: Mapping[int, type[ExportflowClientError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    429: RateLimited,
}


def error_from(response: httpx.Response) -> ExportflowClientError:
    """The typed error of an error answer; a body that is not the envelope becomes one error of its text."""
    try:
        envelope = ErrorEnvelope.model_validate(response.json())
    except ValueError:
        envelope = ErrorEnvelope(
            errors=[ErrorItem(field=None, message=response.text[:TEXT_LIMIT], code="unknown")]
        )
    status = response.status_code
    kind = ERRORS.get(status, ServerError if status >= 500 else ExportflowClientError)
    error = kind(status, envelope.errors, envelope.request_id or response.headers.get("X-Request-ID"))
    if isinstance(error, RateLimited) and response.headers.get("Retry-After", "").isdigit():
        error.retry_after = int(response.headers["Retry-After"])
    return error
