"""The daemon's HTTP endpoints: /metrics, /healthz, /readyz, /status (SPEC section 7).

They are served by `GuardedHTTPServer` (http_server.py): per-connection timeout, a cap on
open connections, a fixed pool of workers, disconnects as one debug log line.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import struct
from collections.abc import Iterable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol, cast

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric

from watcher.observe.http_server import GuardedHTTPServer, PrereadHandler

#: Bytes gathered before a streamed body is written to the socket.
STREAM_CHUNK = 64 * 1024
#: SO_LINGER on, zero seconds: closing the socket resets the connection.
_RESET = struct.pack("ii", 1, 0)


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
                self._stream(200, CONTENT_TYPE_LATEST, exposition(registry))
            elif path in ("/healthz", "/livez"):
                self._check(source.healthy())
            elif path == "/readyz":
                self._check(source.ready())
            elif path == "/status":
                chunks = json.JSONEncoder(indent=2).iterencode(source.status())
                self._stream(200, "application/json", (c.encode() for c in chunks))
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

        def _stream(self, code: int, content_type: str, chunks: Iterable[bytes]) -> None:
            """A body written as it is made; its end is the connection's close (HTTP/1.0).

            The status goes out before the body is complete, so a body that cannot be
            completed ends the connection with a reset rather than a close: the client sees
            an error, as it would from a server that rendered first, never a short body that
            reads as a whole one (Prometheus would take a shortened exposition as a good
            scrape, with series missing)."""
            try:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.end_headers()
                buffered: list[bytes] = []
                size = 0
                for chunk in chunks:
                    buffered.append(chunk)
                    size += len(chunk)
                    if size >= STREAM_CHUNK:
                        self.wfile.write(b"".join(buffered))
                        buffered, size = [], 0
                self.wfile.write(b"".join(buffered))
            except Exception:
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
                raise

        def log_message(self, format: str, *args: Any) -> None:
            # Scrapes every 15 s would drown the JSON log; requests are not logged.
            return

    return Handler


class _One:
    """A registry of one metric family, for rendering families one by one."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        yield self._family


#: Samples of one gauge family rendered at a time.
EXPOSITION_SLICE = 1000


def exposition(registry: CollectorRegistry) -> Iterator[bytes]:
    """The text exposition of `registry`, a family at a time and a large gauge family a slice
    of samples at a time: the same text as generate_latest, without holding every family's
    lines, or all of one family's (with 1,000 plans, a one-hot family is 16,000 lines), at
    once."""
    for family in registry.collect():
        if family.type != "gauge":
            yield _render(family)
            continue
        # A gauge family's text is its HELP and TYPE lines, then one line per sample in order.
        header = _render(Metric(family.name, family.documentation, family.type))
        yield header
        part = Metric(family.name, family.documentation, family.type)
        samples = iter(family.samples)
        while part_samples := list(itertools.islice(samples, EXPOSITION_SLICE)):
            part.samples = part_samples
            yield _render(part)[len(header) :]


def _render(family: Metric) -> bytes:
    return generate_latest(cast(CollectorRegistry, _One(family)))
