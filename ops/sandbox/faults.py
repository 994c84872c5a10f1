"""HTTP-layer fault injection for the simulated AWS endpoint (a WSGI middleware)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .wire import json_error, read_request, xml_error

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class FaultRule:
    """Answer requests for ``action`` with an AWS error, ``times`` times (None: until cleared); with
    ``after``, only once a request for that action has been answered (e.g. credentials that expire
    after the first UpdateService)."""

    action: str
    code: str
    message: str
    status: int
    times: int | None
    after: str | None = None


class FaultInjector:
    """Holds the active fault rules; thread-safe."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._seen: set[str] = set()  # actions answered (not faulted) so far
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        """Activate a rule (later rules for the same action queue behind earlier ones)."""
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        """Drop every rule."""
        with self._lock:
            self._rules.clear()

    def take(self, action: str) -> FaultRule | None:
        """The rule that fires for this request, if any, counting it down."""
        with self._lock:
            for rule in self._rules:
                if rule.action in (action, "*") and (rule.after is None or rule.after in self._seen):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
        return None

    def middleware(self, app: WsgiApp) -> WsgiApp:
        """Wrap a WSGI app so matching requests get the injected error instead."""

        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            request = read_request(environ)  # the body is put back for the app
            action = request.action or ""
            rule = self.take(action) if action else None
            if rule is None:
                with self._lock:
                    self._seen.add(action)
                return app(environ, start_response)
            error = json_error if request.protocol == "json" else xml_error
            return error(rule.code, rule.message, rule.status).send(start_response)

        return wrapped
