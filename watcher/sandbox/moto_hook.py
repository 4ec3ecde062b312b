"""The one place that depends on moto internals.

moto has no extension API, so the simulator is attached by swapping the handler moto routes
SageMaker requests to (`moto.sagemaker.urls.url_paths`) for a subclass of moto's own
`SageMakerResponse`. Operations the simulator owns are answered by it; everything else falls
through to moto. `check_compatible()` fails loudly when a moto upgrade moves any of this.
"""

from __future__ import annotations

import json
import socket
from importlib import metadata
from typing import Any

from watcher.sandbox.answers import RawAnswer, TransportFailure
from watcher.sandbox.errors import DroppedConnection, SimError
from watcher.sandbox.simulator import Simulator

SUPPORTED_MOTO = ("5.2.5", "5.3")  # >= first, < second
_URL_KEY = "{0}/$"
_active: Simulator | None = None


class MotoHookError(RuntimeError):
    """The installed moto does not offer what the simulator hooks into."""


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def check_compatible() -> str:
    """Return the moto version, or raise MotoHookError saying what moved."""
    version = metadata.version("moto")
    low, high = (_version_tuple(v) for v in SUPPORTED_MOTO)
    if not low <= _version_tuple(version) < high:
        raise MotoHookError(
            f"moto {version} is not supported by the plan-watcher simulator "
            f"(supported: >={SUPPORTED_MOTO[0]},<{SUPPORTED_MOTO[1]}); re-check moto_hook.py"
        )
    try:
        from moto.core.responses import ActionResult  # noqa: F401
        from moto.moto_api._internal.models import MotoAPIBackend
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from moto.sagemaker import urls
        from moto.sagemaker.responses import SageMakerResponse
    except ImportError as exc:  # pragma: no cover - only on an unsupported moto
        raise MotoHookError(f"moto {version}: {exc}") from exc
    missing = [
        name
        for name, ok in (
            ("sagemaker.urls.url_paths[{0}/$]", _URL_KEY in getattr(urls, "url_paths", {})),
            ("SageMakerResponse.call_action", hasattr(SageMakerResponse, "call_action")),
            ("SageMakerResponse.serialized", hasattr(SageMakerResponse, "serialized")),
            ("SageMakerResponse.dispatch", hasattr(SageMakerResponse, "dispatch")),
            ("MotoAPIBackend.reset", hasattr(MotoAPIBackend, "reset")),
            (
                "MotoRequestHandler.date_time_string",
                hasattr(MotoRequestHandler, "date_time_string"),
            ),
        )
        if not ok
    ]
    if missing:
        raise MotoHookError(f"moto {version} lacks {', '.join(missing)}")
    return version


def _response_class() -> Any:
    from moto.core.responses import ActionResult
    from moto.sagemaker.responses import SageMakerResponse

    class PlanSimResponse(SageMakerResponse):
        def call_action(self) -> Any:
            sim = _active
            action = self._get_action()
            params = dict(getattr(self, "params", {}) or {})
            if sim is None or not sim.handles(action, params):
                return super().call_action()
            signed_at = self.headers.get("X-Amz-Date") or self.headers.get("x-amz-date")
            refused = sim.signature_refusal(signed_at)
            if refused is not None:
                status, headers, body = self._error(refused)
            else:
                status, headers, body = self._answer(sim, action, params)
            if not self.is_werkzeug_request:  # over HTTP the server's own Date is AWS's time
                headers = {**headers, "Date": sim.date_header()}
            return status, headers, body

        def _error(self, err: SimError) -> Any:
            body = json.dumps({"__type": err.code, "message": err.message})
            headers = dict(self.response_headers)
            headers["Content-Type"] = "application/x-amz-json-1.1"
            return err.status, headers, body

        def _answer(self, sim: Simulator, action: str, params: dict[str, Any]) -> Any:
            try:
                result = sim.call(action, self.current_account, self.region, params)
            except SimError as err:
                return self._error(err)
            except DroppedConnection:
                return self._drop_connection()
            except TransportFailure as failure:
                return self._drop_connection(failure.kind)
            if isinstance(result, RawAnswer):
                headers = dict(self.response_headers)
                headers["Content-Type"] = result.content_type
                return result.status, headers, result.body
            return self.serialized(ActionResult(result))

        def _drop_connection(self, kind: str = "drop") -> Any:
            if not self.is_werkzeug_request:
                # In-process, the caller gets exactly what botocore would raise.
                raise _client_side(kind, self.uri)
            # Over HTTP the server can only hang up, whatever the failure stands for.
            sock = getattr(self, "_sim_socket", None)
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
            return 500, {}, ""

        def setup_class(
            self,
            request: Any,
            full_url: str | None = None,
            headers: Any = None,
            use_raw_body: bool | None = None,
        ) -> None:
            super().setup_class(request, full_url, headers, use_raw_body)
            environ = getattr(request, "environ", None) or {}
            self._sim_socket = environ.get("werkzeug.socket")

    return PlanSimResponse


def _client_side(kind: str, uri: str) -> Exception:
    """The botocore exception a client raises for a transport failure of this kind."""
    from botocore import exceptions as bc

    if kind == "read_timeout":
        return bc.ReadTimeoutError(endpoint_url=uri)
    if kind == "http_client_error":
        return bc.HTTPClientError(error="the response could not be read")
    if kind == "unreachable":
        return bc.EndpointConnectionError(endpoint_url=uri)
    if kind == "connect_timeout":
        return bc.ConnectTimeoutError(endpoint_url=uri)
    if kind == "no_credentials":
        return bc.NoCredentialsError()
    return bc.ConnectionClosedError(endpoint_url=uri)


_original_handler: Any = None
_original_reset: Any = None
_original_date: Any = None


def _aws_date(handler: Any, timestamp: float | None = None) -> str:
    """The `Date` the HTTP server puts on every answer: AWS's time as the simulator plays it."""
    sim = _active
    if sim is None or timestamp is not None:
        return str(_original_date(handler, timestamp))
    return sim.date_header()


def install(sim: Simulator) -> None:
    """Route SageMaker requests through `sim` (idempotent; the last call wins)."""
    global _active, _original_handler, _original_reset, _original_date
    check_compatible()
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from moto.sagemaker import urls

    _active = sim
    if _original_handler is None:
        _original_handler = urls.url_paths[_URL_KEY]
        urls.url_paths[_URL_KEY] = _response_class().dispatch
        _original_reset = MotoAPIBackend.reset
        _original_date = MotoRequestHandler.date_time_string
        MotoRequestHandler.date_time_string = _aws_date  # type: ignore[method-assign,assignment]

        def reset(self: Any) -> None:
            _original_reset(self)
            if _active is not None:
                _active.reset()

        MotoAPIBackend.reset = reset  # type: ignore[method-assign]


def uninstall() -> None:
    """Give SageMaker back to plain moto."""
    global _active, _original_handler, _original_reset, _original_date
    from moto.moto_api._internal.models import MotoAPIBackend
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from moto.sagemaker import urls

    _active = None
    if _original_handler is not None:
        urls.url_paths[_URL_KEY] = _original_handler
        MotoAPIBackend.reset = _original_reset  # type: ignore[method-assign]
        MotoRequestHandler.date_time_string = _original_date  # type: ignore[method-assign]
        _original_handler = _original_reset = _original_date = None


def active() -> Simulator | None:
    return _active
