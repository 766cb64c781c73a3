"""A TCP proxy on loopback in front of an S3 server that fails, for real, on demand (a plain module: no
fixtures, safe to import anywhere; tests/fixtures_s3.py serves one per test session)."""

import re
import socket
import struct
import threading
from contextlib import suppress

from flows.settings import Settings


class FaultProxy:
    """Forwards TCP connections on loopback to `upstream` (the S3 server) and fails, for real, on demand:
    - `cut_after(n)` resets every connection once n more bytes have gone upstream; the server then stays
      unreachable (new connections are reset) until `restore()`, unless `stay_down=False`;
    - `answer(status, code, when)` replies with that S3 error itself to every request whose head
      contains `when` (every request by default), until `restore()`; `answered` counts them.
    Request bodies are delimited by their Content-Length, which botocore always sends."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.cuts = 0
        self.answered = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._budget: int | None = None
        self._stay_down = True
        self._down = False
        self._answer: tuple[bytes, bytes] | None = None
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    @property
    def endpoint(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def reach(self, settings: Settings) -> Settings:
        """The same settings, with S3 reached through this proxy."""
        return settings.model_copy(update={"s3_endpoint_url": self.endpoint})

    def cut_after(self, upstream_bytes: int, *, stay_down: bool = True) -> None:
        with self._lock:
            self._budget = upstream_bytes
            self._stay_down = stay_down

    def answer(self, status: int, code: str, when: bytes = b"") -> None:
        body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>"
        response = (
            f"HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}"
        )
        with self._lock:
            self._answer = (when, response.encode())

    def restore(self) -> None:
        """Forward everything again, and zero the counters."""
        with self._lock:
            self._budget = None
            self._down = False
            self._answer = None
            self.cuts = self.answered = 0

    def close(self) -> None:
        self._stopping.set()
        self._acceptor.join()
        self._listener.close()
        with self._lock:
            self._drop(*self._sockets)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                if self._down:
                    _reset(client)
                    continue
                self._sockets.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        """Forward one client connection: requests upstream one by one (each may be answered here
        instead), responses back as they come."""
        upstream: socket.socket | None = None
        with suppress(OSError):
            upstream = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets.add(upstream)
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()
            self._forward_requests(client, upstream)
        with self._lock:
            self._drop(client, *([upstream] if upstream else []))

    def _forward_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        """Read each request's head (and, by its Content-Length, its body) and send it on; stop when the
        client closes, the budget runs out, or a request is answered here."""
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                if not (data := client.recv(65536)):
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            head += b"\r\n\r\n"
            with self._lock:
                answer = self._answer
            if answer is not None and answer[0] in head:
                # Answered after the head only: a client may wait for `100 Continue` before its body.
                self._reply(client, answer[1])
                return
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            remaining = int(length.group(1)) if length else 0
            body, buffer = buffer[:remaining], buffer[remaining:]
            if not self._send(upstream, head + body):
                return
            remaining -= len(body)
            while remaining:
                if not (data := client.recv(min(remaining, 65536))):
                    return
                remaining -= len(data)
                if not self._send(upstream, data):
                    return

    def _send(self, upstream: socket.socket, data: bytes) -> bool:
        """Send what the budget allows; when it runs out, cut every connection and return False."""
        with self._lock:
            budget = self._budget
            within = budget is None or len(data) < budget
            if budget is not None:
                data = data[:budget]
                self._budget = budget - len(data) if within else None
        upstream.sendall(data)
        if not within:
            self._cut()
        return within

    def _reply(self, client: socket.socket, response: bytes) -> None:
        """Send the canned response, then read whatever the client still sends until it closes."""
        with self._lock:
            self.answered += 1
        client.sendall(response)
        client.shutdown(socket.SHUT_WR)
        while client.recv(65536):
            pass

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        """Copy responses back until a side closes."""
        with suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with self._lock:
            self._drop(source, target)

    def _cut(self) -> None:
        with self._lock:
            self.cuts += 1
            self._drop(*self._sockets)
            self._down = self._stay_down

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            if sock in self._sockets:
                self._sockets.discard(sock)
                _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with an RST (linger 0), waking any thread blocked on the socket."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
