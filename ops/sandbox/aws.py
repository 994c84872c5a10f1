"""moto over real HTTP on 127.0.0.1, behind fault injection and the world's lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .faults import FaultInjector, WsgiApp
from .serving import serve_in_background, stop_serving


def _locked(app: WsgiApp, lock: threading.RLock) -> WsgiApp:
    """Run each request's backend work under ``lock`` (shared with the simulator's ticker)."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    return wrapped


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug's handler without the per-request access log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Do not log requests."""


class AwsServer:
    """A threaded werkzeug server running moto's dispatcher app, behind ``layers`` (WSGI middlewares
    answering what moto lacks, applied in order, under the lock) and fault injection."""

    def __init__(self, port: int, lock: threading.RLock, faults: FaultInjector,
                 layers: Sequence[Callable[[WsgiApp], WsgiApp]] = ()) -> None:
        app: WsgiApp = DomainDispatcherApplication(create_backend_app)
        for layer in layers:
            app = layer(app)
        _check_free(port)  # werkzeug would print its own text and sys.exit(1) on a busy port
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port, faults.middleware(_locked(app, lock)), threaded=True,
            request_handler=_QuietHandler,
        )
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = serve_in_background(self._server, "moto")

    def stop(self) -> None:
        """Stop serving and free the port (a server that never started is only closed)."""
        stop_serving(self._server, self._thread)
        self._thread = None


def _check_free(port: int) -> None:
    """OSError (EADDRINUSE) when ``port`` on 127.0.0.1 is taken; 0 (any free port) always passes."""
    if port == 0:
        return
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))
