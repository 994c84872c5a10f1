"""HTTP-layer fault injection for the simulated AWS endpoint (a WSGI middleware)."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

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
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            action = target.rpartition(".")[2] if target else _query_action(environ)
            rule = self.take(action) if action else None
            if rule is None:
                with self._lock:
                    self._seen.add(action)
                return app(environ, start_response)
            body, content_type = (_json_error(rule) if target else _xml_error(rule))
            start_response(f"{rule.status} Injected", [
                ("Content-Type", content_type), ("Content-Length", str(len(body))),
                ("x-amzn-RequestId", str(uuid.uuid4())), ("x-amzn-ErrorType", rule.code),
            ])
            return [body]

        return wrapped


def _query_action(environ: dict[str, Any]) -> str:
    """The ``Action`` of a query-protocol request (URL or form body); the body is put back."""
    params = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in params:
        return params["Action"][0]
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return ""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]


def _json_error(rule: FaultRule) -> tuple[bytes, str]:
    payload = {"__type": rule.code, "message": rule.message}
    return json.dumps(payload).encode(), "application/x-amz-json-1.1"


def _xml_error(rule: FaultRule) -> tuple[bytes, str]:
    kind = "Receiver" if rule.status >= 500 else "Sender"
    xml = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(rule.code)}</Code>"
           f"<Message>{escape(rule.message)}</Message></Error>"
           f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return xml.encode(), "text/xml"
