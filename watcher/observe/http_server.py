"""An HTTP/1.0 server that careless and hostile clients cannot exhaust.

The standard library's ThreadingHTTPServer gives every connection a thread for as long as the
client keeps it open, and prints a traceback on stderr for every client that goes away. For
the daemon's endpoints (scraped by Prometheus, probed by the kubelet) that means 500 idle
connections hold 500 threads, and a burst of dropped clients floods the log. Here:

- one thread accepts connections and reads each request's head without blocking (a
  selector): an idle or slow client costs a file descriptor, not a thread;
- a request whose head has not fully arrived `timeout` seconds after the connection opened
  is closed, as is one whose head grows past MAX_HEAD_BYTES;
- complete requests are answered by a small fixed pool of worker threads, whose socket
  operations time out after `timeout` seconds;
- at most `max_connections` connections are open at once: at the cap, the oldest connection
  still waiting for its request head is closed to make room for the new one (so a flood of
  idle connections cannot lock the kubelet's probe out); with none to close, the new one is;
- a client that goes away is one JSON log line at debug level, never a traceback.

Only requests without a body are read (the endpoints answer GET); each connection serves one
request and is closed.
"""

from __future__ import annotations

import contextlib
import io
import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from watcher.observe.logs import get_logger

MAX_HEAD_BYTES = 16 * 1024
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_WORKERS = 4
_TICK = 0.25  # how often the loop looks for connections past their deadline
_DISCONNECTS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


@dataclass
class _Waiting:
    """A connection whose request head is still arriving."""

    sock: socket.socket
    client: str
    opened: float
    head: bytearray = field(default_factory=bytearray)


@dataclass(frozen=True)
class Request:
    """What a worker hands the handler: the socket and the head already read from it."""

    sock: socket.socket
    head: bytes


class _SocketWriter(io.BufferedIOBase):
    """Writes all of every buffer (a raw socket file may write only part of one)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        return len(memoryview(data))


class PrereadHandler(BaseHTTPRequestHandler):
    """A BaseHTTPRequestHandler that parses a head read beforehand and writes to the socket."""

    request: Request

    def setup(self) -> None:
        self.connection = self.request.sock
        self.rfile = io.BytesIO(self.request.head)
        self.wfile = _SocketWriter(self.connection)

    def finish(self) -> None:
        self.wfile.close()


def _listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=128)
    sock.setblocking(False)
    return sock


class GuardedHTTPServer:
    """Serves `handler` on every (host, port) in `addresses` until `stop()`."""

    def __init__(
        self,
        addresses: Sequence[tuple[str, int]],
        handler: Callable[[Request, tuple[str, int], Any], Any],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        workers: int = DEFAULT_WORKERS,
        log: Any = None,
    ) -> None:
        self.timeout = timeout
        self.max_connections = max_connections
        self._handler = handler
        self._log = log or get_logger()
        self._listeners: list[socket.socket] = []
        try:
            for host, port in addresses:
                self._listeners.append(_listener(host, port))
        except OSError:
            for sock in self._listeners:
                sock.close()
            raise
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._waiting: dict[socket.socket, _Waiting] = {}
        self._busy = 0  # connections handed to the workers and not closed yet
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="http-worker")
        self._thread = threading.Thread(target=self._loop, name="http", daemon=True)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        found = []
        for sock in self._listeners:
            host, port = sock.getsockname()[:2]
            found.append((str(host), int(port)))
        return found

    def start(self) -> None:
        for sock in self._listeners:
            self._selector.register(sock, selectors.EVENT_READ, "listen")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join(5)
        for sock in self._listeners:
            sock.close()
        for waiting in list(self._waiting.values()):
            waiting.sock.close()
        self._waiting.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # --- the loop: accept, read heads, expire -------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                events = self._selector.select(_TICK)
            except OSError:
                return
            for key, _ in events:
                if key.data == "listen":
                    self._accept(key.fileobj)  # type: ignore[arg-type]
                elif key.data == "wake":
                    return
                else:
                    self._read(key.data)
            self._expire()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors and the like: try again later
                self._log.warning("http_accept_failed", error=type(exc).__name__)
                return
            client = f"{address[0]}:{address[1]}"
            if not self._make_room():
                self._log.debug("http_connection_refused", client=client, reason="at the cap")
                sock.close()
                continue
            sock.setblocking(False)
            waiting = _Waiting(sock, client, time.monotonic())
            self._waiting[sock] = waiting
            self._selector.register(sock, selectors.EVENT_READ, waiting)

    def _make_room(self) -> bool:
        with self._lock:
            busy = self._busy
        if len(self._waiting) + busy < self.max_connections:
            return True
        if not self._waiting:
            return False
        oldest = min(self._waiting.values(), key=lambda w: w.opened)
        self._drop(oldest, "closed to make room: the oldest connection without a request")
        return True

    def _read(self, waiting: _Waiting) -> None:
        try:
            data = waiting.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._drop(waiting, f"read failed: {type(exc).__name__}")
            return
        if not data:
            self._drop(waiting, "the client closed the connection before its request")
            return
        waiting.head += data
        if b"\r\n\r\n" in waiting.head or b"\n\n" in waiting.head:
            self._selector.unregister(waiting.sock)
            del self._waiting[waiting.sock]
            with self._lock:
                self._busy += 1
            self._pool.submit(self._serve, waiting)
        elif len(waiting.head) > MAX_HEAD_BYTES:
            self._drop(waiting, f"request head over {MAX_HEAD_BYTES} bytes")

    def _expire(self) -> None:
        limit = time.monotonic() - self.timeout
        for waiting in [w for w in self._waiting.values() if w.opened < limit]:
            self._drop(waiting, f"no complete request within {self.timeout:g}s")

    def _drop(self, waiting: _Waiting, reason: str) -> None:
        self._waiting.pop(waiting.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(waiting.sock)
        waiting.sock.close()
        self._log.debug("http_client_disconnected", client=waiting.client, reason=reason)

    # --- a worker: answer one complete request ------------------------------------------

    def _serve(self, waiting: _Waiting) -> None:
        sock = waiting.sock
        try:
            sock.setblocking(True)
            sock.settimeout(self.timeout)
            peer = sock.getpeername()
            self._handler(Request(sock, bytes(waiting.head)), (peer[0], peer[1]), self)
        except _DISCONNECTS as exc:
            self._log.debug(
                "http_client_disconnected",
                client=waiting.client,
                reason=f"while answering: {type(exc).__name__}",
            )
        except OSError as exc:
            self._log.debug(
                "http_client_disconnected", client=waiting.client, reason=type(exc).__name__
            )
        except Exception as exc:  # a handler bug: one line, the server goes on
            self._log.error("http_handler_failed", client=waiting.client, error=repr(exc))
        finally:
            sock.close()
            with self._lock:
                self._busy -= 1
