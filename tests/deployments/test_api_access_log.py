"""`exportflow api`'s access log: no query string (download tokens) and no recipient token in a path."""

import logging

import pytest

from deployments.api_cli import PathWithoutQuery


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/api/v1/exports/1/file?token=secret", "/api/v1/exports/1/file"),
        ("/d/eyJzZWNyZXQiOjF9.abc", "/d/…"),
        ("/d/eyJzZWNyZXQiOjF9.abc/file", "/d/…/file"),
        ("/d/eyJzZWNyZXQiOjF9.abc/file?x=1", "/d/…/file"),
        ("/health", "/health"),
    ],
)
def test_secrets_never_reach_the_access_log(path: str, logged: str) -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4", "GET", path, "1.1", 200),
        None,
    )

    assert PathWithoutQuery().filter(record)

    assert record.getMessage() == f'1.2.3.4 - "GET {logged} HTTP/1.1" 200'
