"""`exportflow api`: serve the API with uvicorn, with access-log lines that never carry a query string
or a recipient link's token."""

import logging
from typing import Annotated, Any

import typer
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from deployments.cli_support import load_settings, require_migrated
from flows.exports.recipient_links import PATH_PREFIX

ACCESS_PATH_ARG = 2  # uvicorn logs (client_addr, method, path_with_query, http_version, status)


class PathWithoutQuery(logging.Filter):
    """Drops the query string from uvicorn's access-log records (it may carry a signed download token),
    and the token from a recipient page's path (`/d/<token>/file` is logged as `/d/…/file`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > ACCESS_PATH_ARG:
            path = args[ACCESS_PATH_ARG]
            if isinstance(path, str):
                record.args = (*args[:ACCESS_PATH_ARG], _redacted(path), *args[ACCESS_PATH_ARG + 1 :])
        return True


def _redacted(path: str) -> str:
    path = path.partition("?")[0]
    if path.startswith(PATH_PREFIX):
        _token, slash, rest = path[len(PATH_PREFIX) :].partition("/")
        return f"{PATH_PREFIX}…{slash}{rest}"
    return path


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, its access log without query strings; exportflow's loggers at `level`."""
    config: dict[str, Any] = {
        **LOGGING_CONFIG,
        "filters": {"path_without_query": {"()": PathWithoutQuery}},
    }
    config["loggers"] = {
        **LOGGING_CONFIG["loggers"],
        "uvicorn.access": {**LOGGING_CONFIG["loggers"]["uvicorn.access"], "filters": ["path_without_query"]},
        "exportflow": {"handlers": ["default"], "level": level, "propagate": False},
    }
    return config


def api(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on (default EXPORTFLOW_API_HOST).", show_default=False),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="Port to listen on (default EXPORTFLOW_API_PORT).", show_default=False
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (api.app:create_app) with uvicorn, and beside it the background service
    (deployments/background.py) unless EXPORTFLOW_RUN_BACKGROUND_SERVICES is off."""
    from api.app import create_app
    from deployments.background import Reconciler
    from flows.appdb.engine import app_sessions

    settings = load_settings()
    require_migrated(settings.database_url)
    background = [Reconciler(settings, app_sessions())] if settings.run_background_services else []
    uvicorn.run(
        create_app(settings, background),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=log_config(settings.log_level),
        proxy_headers=False,
    )
