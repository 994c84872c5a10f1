"""The broker's HTTP API on 127.0.0.1: /healthz, /metrics, POST /v1/allocate."""

from __future__ import annotations

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .broker import BrokerModel
from .serving import serve_in_background, stop_serving

SANDBOX_HEADER = "X-Instruqt-Sandbox-ID"


class BrokerApiServer(ThreadingHTTPServer):
    """A threaded HTTP server answering from a ``BrokerModel`` under the world's lock."""

    daemon_threads = True

    def __init__(self, port: int, broker: BrokerModel, token: str, lock: threading.RLock) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.broker = broker
        self.token = token
        self.lock = lock
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = serve_in_background(self, "broker-api")

    def stop(self) -> None:
        """Stop serving and free the port (a server that never started is only closed)."""
        stop_serving(self, self._thread)
        self._thread = None


class _Handler(BaseHTTPRequestHandler):
    server: BrokerApiServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Stay quiet (and never log a token)."""

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._healthz()
        elif path == "/metrics":
            self._metrics()
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        self._drain_body()
        if self.path.split("?", 1)[0] == "/v1/allocate":
            self._allocate()
        else:
            self._json(404, {"error": "not found"})

    def _healthz(self) -> None:
        with self.server.lock:
            healthy = self.server.broker.observe().healthy
        status = "healthy" if healthy else "unhealthy"
        self._json(200 if healthy else 503, {"status": status, "timestamp": int(time.time())})

    def _metrics(self) -> None:
        with self.server.lock:
            running = self.server.broker.observe().api_running > 0
            text = self.server.broker.metrics()
        if not running:
            self._json(503, {"error": "no API task is running"})
            return
        self._send(200, text.encode(), "text/plain; version=0.0.4")

    def _allocate(self) -> None:
        if not self._authorized():
            self._json(401, {"error": "missing or invalid bearer token"})
            return
        sandbox_id = self.headers.get(SANDBOX_HEADER, "").strip()
        if not sandbox_id:
            self._json(400, {"error": f"missing {SANDBOX_HEADER} header"})
            return
        with self.server.lock:
            healthy = self.server.broker.observe().healthy
            if healthy:
                self.server.broker.allocate()
        if not healthy:
            self._json(503, {"error": "service unhealthy", "sandbox_id": sandbox_id})
            return
        self._json(200, {"sandbox_id": sandbox_id, "status": "allocated"})

    def _authorized(self) -> bool:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), self.server.token)

    def _drain_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
