"""A real HTTP server on loopback receiving webhooks, for one test: `webhook_receiver`.

It records every request (path with query, headers, body) and answers from a script: queue statuses in
`answers` (e.g. [500, 200]); an answer of HANG holds the request without answering for
`hang_seconds`; once the script is used up it answers 200.
Use from a test module with `pytest_plugins = ["tests.fixtures_webhooks"]`.
"""

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HANG = -1


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class WebhookReceiver:
    host: str
    port: int
    answers: list[int] = field(default_factory=list)
    hang_seconds: float = 3.0
    received: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def next_answer(self) -> int:
        with self.lock:
            return self.answers.pop(0) if self.answers else 200


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            with receiver.lock:
                receiver.received.append(ReceivedRequest(self.path, headers, body, time.monotonic()))
            answer = receiver.next_answer()
            if answer == HANG:
                time.sleep(receiver.hang_seconds)
                return
            self.send_response(answer)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(WebhookReceiver("127.0.0.1", 0)))
    receiver = WebhookReceiver("127.0.0.1", server.server_address[1])
    server.RequestHandlerClass = _handler(receiver)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
