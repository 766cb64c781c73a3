"""The pages application, mounted at /d by api/app.py: HTML for every outcome, never the JSON envelope.

A sub-application of its own so that its errors (a bad token, a route or method that does not exist,
an unexpected failure) are answered by its handlers, as pages, and the API's envelope never shows
here. It shares the API's services (set on its state by the API's lifespan) and has no OpenAPI: the
pages are for people, not for API clients.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.pages import recipient
from api.pages.rendering import PageError, error_page
from flows.errors import TransientError

logger = logging.getLogger("exportflow.api.pages")

_TITLES = {
    404: ("Page not found", "Check that you opened the whole link from your email."),
    405: ("Page not found", "Open the link from your email, then use the download button."),
}


def create_pages_app() -> FastAPI:
    pages = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    pages.include_router(recipient.router)
    pages.add_exception_handler(PageError, _page_error)
    pages.add_exception_handler(StarletteHTTPException, _http_error)
    pages.add_exception_handler(RequestValidationError, _invalid_request)
    pages.add_exception_handler(TransientError, _unavailable)
    pages.add_exception_handler(Exception, _unexpected)
    return pages


async def _page_error(request: Request, error: Exception) -> HTMLResponse:
    assert isinstance(error, PageError)
    return error_page(error)


async def _http_error(request: Request, error: Exception) -> HTMLResponse:
    assert isinstance(error, StarletteHTTPException)
    title, message = _TITLES.get(error.status_code, ("This page cannot be shown", str(error.detail)))
    return error_page(PageError(error.status_code, title, message))


async def _invalid_request(request: Request, error: Exception) -> HTMLResponse:
    return error_page(PageError(400, "This request is not valid", "Open the link from your email again."))


async def _unavailable(request: Request, error: Exception) -> HTMLResponse:
    """Storage (or the database) out of reach for now: a page saying to try again, not a failure."""
    logger.warning("a recipient page could not reach a service: %s", error)
    message = "The file cannot be reached right now. Try again in a few minutes."
    return error_page(PageError(503, "Try again in a few minutes", message))


async def _unexpected(request: Request, error: Exception) -> HTMLResponse:
    request_id = getattr(request.state, "request_id", None)
    # The path holds a recipient token, a secret: log the route's name only.
    logger.exception("unhandled error on a recipient page (request %s)", request_id)
    message = f"Something went wrong on our side. Try again later; quote {request_id} if it persists."
    return error_page(PageError(500, "Something went wrong", message))
