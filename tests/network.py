"""Loopback helpers shared by the tests (a plain module: no fixtures, safe to import anywhere)."""

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A loopback TCP port free right now (nobody listens on it)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port
