"""A local webhook receiver on 127.0.0.1: records every POST, and can answer errors or hang.

For tests and the drill (the World owns one: ``world.webhook``). Nothing it receives is logged.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .serving import serve_in_background, stop_serving

PATH = "/webhook"


@dataclass(frozen=True)
class Delivery:
    """One POST as received: path, headers, the body (parsed JSON, or None) and when."""

    path: str
    headers: dict[str, str]
    raw: bytes
    json: Any
    received_at: float  # time.time()


@dataclass
class _Plan:
    """How to answer one of the next requests: a status, after a delay."""

    status: int
    delay: float


class WebhookReceiver:
    """A real HTTP server (threaded) recording POSTs; a context manager."""

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._deliveries: list[Delivery] = []
        self._plans: deque[_Plan] = deque()
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Listen on 127.0.0.1 (port 0: a free one) and serve in a background thread."""
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
        self._server.daemon_threads = True
        self._thread = serve_in_background(self._server, "webhook")

    def stop(self) -> None:
        """Stop serving (hanging requests are let go at once) and free the port. Idempotent."""
        self._stopping.set()
        if self._server is not None:
            stop_serving(self._server, self._thread)
        self._server, self._thread = None, None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/webhook`` (any path is accepted)."""
        if self._server is None:
            raise RuntimeError("the webhook receiver is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}{PATH}"

    # -- behaviour ----------------------------------------------------------------------------

    def fail(self, status: int = 500, times: int = 1) -> None:
        """Answer the next ``times`` POSTs with ``status``."""
        self._plan(_Plan(status, 0.0), times)

    def hang(self, seconds: float, times: int = 1, status: int = 200) -> None:
        """Hold the next ``times`` POSTs for ``seconds`` before answering ``status``."""
        self._plan(_Plan(status, seconds), times)

    def _plan(self, plan: _Plan, times: int) -> None:
        with self._changed:
            self._plans.extend(_Plan(plan.status, plan.delay) for _ in range(times))

    # -- observation --------------------------------------------------------------------------

    def received(self) -> list[Delivery]:
        """Every POST so far, in arrival order."""
        with self._changed:
            return list(self._deliveries)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Wait until at least ``count`` POSTs arrived; return them all. TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._deliveries)} of {count} webhook POSTs in {timeout}s")
                self._changed.wait(left)
            return list(self._deliveries)

    def clear(self) -> None:
        """Forget what was received and any planned errors or hangs."""
        with self._changed:
            self._deliveries.clear()
            self._plans.clear()

    def _record(self, delivery: Delivery) -> _Plan:
        with self._changed:
            self._deliveries.append(delivery)
            self._changed.notify_all()
            return self._plans.popleft() if self._plans else _Plan(200, 0.0)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            plan = receiver._record(Delivery(self.path, dict(self.headers.items()), raw,
                                             _parse(raw), time.time()))
            if plan.delay and receiver._stopping.wait(plan.delay):
                self.close_connection = True  # stopping: drop it unanswered
                return
            body = b"ok" if plan.status < 400 else b"error"
            self.send_response(plan.status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Log nothing: bodies and URLs stay out of logs."""

    return Handler


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
