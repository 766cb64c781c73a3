"""The embedded Prefect server: Prefect's own app (API, UI and services) under uvicorn, as
`prefect server start` runs it, with one change: its 503 answers tell clients to retry soon.

On SQLite the server answers 503 when a write meets "database is locked" (a read transaction that
another connection's write overtook cannot wait for the lock: SQLite refuses it at once). Prefect's
client retries a 503 after the `Retry-After` seconds it names, else after 2, 4, 8 s: without the
header every lock a burst of runs meets costs a run 2 s. The lock is gone milliseconds later, so
RETRY_AFTER_SECONDS is short; each retry is still one of the client's PREFECT_CLIENT_MAX_RETRIES.

    python -m deployments.prefect_server --host 127.0.0.1 --port 4200
"""

import argparse
import sys

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RETRY_AFTER_SECONDS = "0.1"
SERVICE_UNAVAILABLE = 503


class RetrySoon:
    """ASGI middleware: every 503 response without a Retry-After header gets RETRY_AFTER_SECONDS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_retry_after(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == SERVICE_UNAVAILABLE:
                MutableHeaders(scope=message).setdefault("Retry-After", RETRY_AFTER_SECONDS)
            await send(message)

        await self.app(scope, receive, send_with_retry_after)


def prefect_server_command(host: str, port: int) -> list[str]:
    """The command line that runs this server (in this interpreter)."""
    return [sys.executable, "-m", "deployments.prefect_server", "--host", host, "--port", str(port)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()

    import uvicorn
    from prefect.server.api.server import create_app
    from prefect.settings import get_current_settings

    settings = get_current_settings().server
    uvicorn.run(
        RetrySoon(create_app(final=True)),
        host=arguments.host,
        port=arguments.port,
        timeout_keep_alive=settings.api.keepalive_timeout,
        log_level=settings.logging_level.lower(),
    )


if __name__ == "__main__":
    main()
