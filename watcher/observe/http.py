"""The daemon's HTTP endpoints: /metrics, /healthz, /readyz, /status (SPEC section 7)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest


class HealthSource(Protocol):
    def healthy(self) -> tuple[bool, str]: ...

    def ready(self) -> tuple[bool, str]: ...

    def status(self) -> dict[str, Any]: ...


class EndpointServer:
    """Serves the endpoints on a background thread; `stop()` closes the socket."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry, source: HealthSource):
        handler = _handler(registry, source)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(registry: CollectorRegistry, source: HealthSource) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
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
