"""The endpoints hold up under careless and hostile clients: hundreds of idle and slow
connections neither lock /healthz out nor hold a thread each, an idle connection is closed
after the timeout, and clients that go away are one debug line each, never a traceback."""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry

from watcher.observe.http import EndpointServer
from watcher.observe.logs import configure

IDLE, SLOW = 250, 100


class Source:
    def healthy(self) -> tuple[bool, str]:
        return True, "ok"

    def ready(self) -> tuple[bool, str]:
        return True, "ok"

    def status(self) -> dict[str, Any]:
        # Large enough that writing it to a client that reset its connection fails.
        return {
            "decisions": [{"plan_name": f"plan-{i:05d}", "reason": "x" * 200} for i in range(5000)]
        }


@pytest.fixture
def logs_to_stdout() -> Iterator[None]:
    configure("debug", "json", sys.stdout)
    yield
    structlog.reset_defaults()


def _serve(**limits: Any) -> EndpointServer:
    server = EndpointServer("127.0.0.1", 0, CollectorRegistry(), Source(), **limits)
    server.start()
    return server


def _get(server: EndpointServer, path: str) -> tuple[int, bytes]:
    host, port = server.address
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=20) as response:
        return response.status, response.read()


def _connect(server: EndpointServer) -> socket.socket:
    return socket.create_connection(server.address, timeout=20)


def test_idle_and_slow_connections_do_not_lock_out_healthz_or_hold_threads() -> None:
    server = _serve()
    before = threading.active_count()
    held: list[socket.socket] = []
    try:
        held += [_connect(server) for _ in range(IDLE)]
        for _ in range(SLOW):
            sock = _connect(server)
            sock.sendall(b"GET /heal")  # a request head that never completes
            held.append(sock)
        for _ in range(3):
            assert _get(server, "/healthz") == (200, b"ok\n")
        threads = threading.active_count() - before
    finally:
        for sock in held:
            sock.close()
        server.stop()
    # The accept loop and a small pool of workers, not a thread per connection.
    assert threads <= 8, threads


def test_an_idle_connection_is_closed_after_the_timeout() -> None:
    server = _serve(timeout=1.0)
    try:
        with _connect(server) as sock:
            sock.settimeout(30)
            assert sock.recv(1) == b""  # the server closed it
        assert _get(server, "/readyz")[0] == 200
    finally:
        server.stop()


@pytest.mark.usefixtures("logs_to_stdout")
def test_clients_that_go_away_are_one_debug_line_each_never_a_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure("debug", "json", sys.stdout)  # the stdout capfd captures
    server = _serve()
    try:
        for _ in range(40):
            sock = _connect(server)
            sock.sendall(b"GET /status HTTP/1.0\r\n\r\n")
            # Reset instead of a clean close: the answer's writes fail on the server.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        for _ in range(40):
            _connect(server).close()  # connected and gone without a request
        assert _get(server, "/healthz")[0] == 200
    finally:
        server.stop()
    out, err = capfd.readouterr()

    assert "Traceback" not in out + err
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), lines[:5]
    events = [json.loads(line) for line in lines]
    gone = [e for e in events if e["event"] == "http_client_disconnected"]
    assert gone and all(e["level"] == "debug" for e in gone)
    assert len(gone) >= 40  # at least the connections that left without a request


def test_metrics_listen_binds_loopback_plus_a_separate_address(
    sim: Any, clock: Any, tmp_path: Any
) -> None:
    from tests.conftest import free_port
    from tests.integration.test_engine_support import make_config
    from watcher.daemon import Daemon

    first, second = free_port(), free_port()
    listen = f"127.0.0.1:{first},127.0.0.2:{second}"
    config = make_config(tmp_path / "journal.db", metrics={"listen": listen})
    assert config.metrics.addresses == [("127.0.0.1", first), ("127.0.0.2", second)]
    daemon = Daemon(config, clock=clock, interval_seconds=3600)
    runner = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
    runner.start()
    try:
        for _ in range(200):
            if daemon.server is not None and daemon.cycles:
                break
            threading.Event().wait(0.05)
        for host, port in (("127.0.0.1", first), ("127.0.0.2", second)):
            url = f"http://{host}:{port}/readyz"
            with urllib.request.urlopen(url, timeout=20) as response:
                assert response.status == 200, url
    finally:
        daemon.request_stop()
        runner.join(30)
