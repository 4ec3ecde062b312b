"""The daemon's HTTP endpoints: /metrics, /healthz, /readyz, /status (SPEC section 7).

They are served by `GuardedHTTPServer` (http_server.py): per-connection timeout, a cap on
open connections, a fixed pool of workers, disconnects as one debug log line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from watcher.observe.http_server import GuardedHTTPServer, PrereadHandler


class HealthSource(Protocol):
    def healthy(self) -> tuple[bool, str]: ...

    def ready(self) -> tuple[bool, str]: ...

    def status(self) -> dict[str, Any]: ...


class EndpointServer:
    """Serves the endpoints on a background thread; `stop()` closes the sockets.

    `host` and `port` give the first address; `more` any others (metrics.listen may name
    several, e.g. loopback plus one interface)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        source: HealthSource,
        *,
        more: Sequence[tuple[str, int]] = (),
        **limits: Any,
    ):
        self._server = GuardedHTTPServer(
            [(host, port), *more], _handler(registry, source), **limits
        )

    @property
    def address(self) -> tuple[str, int]:
        return self._server.addresses[0]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return self._server.addresses

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()


def _handler(registry: CollectorRegistry, source: HealthSource) -> type[BaseHTTPRequestHandler]:
    class Handler(PrereadHandler):
        server_version = "plan-watcher"

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path in ("/healthz", "/livez"):
                self._check(source.healthy())
            elif path == "/readyz":
                self._check(source.ready())
            elif path == "/status":
                body = json.dumps(source.status(), indent=2).encode()
                self._send(200, "application/json", body)
            else:
                self._send(404, "text/plain", b"not found\n")

        def _check(self, result: tuple[bool, str]) -> None:
            ok, detail = result
            self._send(200 if ok else 503, "text/plain", f"{detail}\n".encode())

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Scrapes every 15 s would drown the JSON log; requests are not logged.
            return

    return Handler
