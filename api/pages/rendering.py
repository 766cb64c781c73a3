"""HTML responses of the pages: Jinja2 templates (api/pages/templates) with autoescape on, and the
headers every page carries (no caching, no referrer, no scripts, no framing, no indexing).

The pages' URLs carry recipient tokens, which are secrets: no page loads anything from elsewhere
(a referrer would leak them), and none is cached or indexed.
"""

from typing import Any

from fastapi.responses import HTMLResponse

from flows.html_templates import html_templates

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


class PageError(Exception):
    """An outcome a person reads as a page: its status, a title and what to do about it."""

    def __init__(
        self, status: int, title: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message
        self.headers = headers or {}


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The template rendered with `context` (every value HTML-escaped), with the pages' headers."""
    html = html_templates("api.pages").get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def error_page(error: PageError) -> HTMLResponse:
    response = page("error.html", error.status, title=error.title, message=error.message, code=error.status)
    response.headers.update(error.headers)
    return response
