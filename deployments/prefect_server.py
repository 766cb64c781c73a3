"""The embedded Prefect server: Prefect's own app (API, UI and services) under uvicorn, as
`prefect server start` runs it, with one change: its 503 answers say when to retry.

On SQLite the server answers 503 when a write meets "database is locked" (a read transaction that
another connection's write overtook cannot wait for the lock: SQLite refuses it at once). Prefect's
client retries a 503 after the `Retry-After` seconds it names, else after 2, 4, 8, 16, 32 s: without
the header every lock a burst of runs meets costs a run 2 s, though the lock is gone milliseconds
later. So the answer names a short wait that grows with the server's recent 503s (`RetryAfter`):
a lock now and then is retried in 0.1 s, a burst of them backs its clients off towards 2 s as
Prefect's own back-off would. Each retry is still one of the client's PREFECT_CLIENT_MAX_RETRIES,
so `exportflow up` gives the processes it starts CLIENT_ENVIRONMENT, with more retries: a client
meeting one lasting lock alone keeps retrying for about 15 s (Prefect's five retries without the
header: 62 s).

    python -m deployments.prefect_server --host 127.0.0.1 --port 4200
"""

import argparse
import collections
import sys
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SERVICE_UNAVAILABLE = 503
CLIENT_ENVIRONMENT: Mapping[str, str] = MappingProxyType({"PREFECT_CLIENT_MAX_RETRIES": "20"})
"""What the processes talking to this server get in their environment (Prefect retries 5 times)."""


class RetryAfter:
    """The wait a 503 names: `step` seconds for each 503 answered in the last `window` seconds, this
    one included, at most `longest`."""

    def __init__(
        self,
        step: float = 0.1,
        longest: float = 2.0,
        window: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._step, self._longest, self._window, self._clock = step, longest, window, clock
        self._recent: collections.deque[float] = collections.deque()

    def next(self) -> float:
        now = self._clock()
        while self._recent and now - self._recent[0] > self._window:
            self._recent.popleft()
        self._recent.append(now)
        return min(self._longest, self._step * len(self._recent))


class RetrySoon:
    """ASGI middleware: every 503 response without a Retry-After header gets one from `retry_after`."""

    def __init__(self, app: ASGIApp, retry_after: RetryAfter | None = None) -> None:
        self.app = app
        self.retry_after = retry_after or RetryAfter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_retry_after(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == SERVICE_UNAVAILABLE:
                headers = MutableHeaders(scope=message)
                if "Retry-After" not in headers:
                    headers["Retry-After"] = f"{self.retry_after.next():.1f}"
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
