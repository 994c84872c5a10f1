"""AWS's wire formats at the world's WSGI layer: who signed a request, for which operation, and the
JSON and query (XML) answers and errors the world sends back itself."""

from __future__ import annotations

import functools
import io
import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

Protocol = Literal["json", "query", "other"]
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")


class AwsError(Exception):
    """An AWS error answer the world sends itself: the error code, its message, the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Request:
    """What the world needs of an AWS request: signer, service, region, operation, parameters."""

    access_key: str | None
    service: str | None  # the SigV4 credential scope's service (the IAM action prefix)
    region: str | None
    action: str | None  # the operation name (X-Amz-Target's suffix or the query Action)
    protocol: Protocol
    body: bytes = b""
    multi: dict[str, list[str]] = field(default_factory=dict)  # query values, all of them

    @functools.cached_property
    def params(self) -> dict[str, Any]:
        """The JSON body's members, or each query value (its first); parsed when first asked."""
        if self.protocol == "json":
            return _json(self.body)
        return {k: v[0] for k, v in self.multi.items()}

    @property
    def iam_action(self) -> str | None:
        """``service:Operation`` as IAM names it, when both parts are known."""
        return f"{self.service}:{self.action}" if self.service and self.action else None


def read_request(environ: dict[str, Any]) -> Request:
    """Parse the signature, the operation and the parameters; the body is put back for moto."""
    body = _body(environ)
    query = parse_qs(environ.get("QUERY_STRING", ""))
    scope = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", "")) or _SCOPE.search(
        "Credential=" + query.get("X-Amz-Credential", [""])[0])
    key, region, service = scope.groups() if scope else (None, None, None)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return Request(key, service, region, target.rpartition(".")[2], "json", body)
    form = query
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = {**query, **parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)}
    if "Action" in form:
        return Request(key, service, region, form["Action"][0], "query", body, form)
    return Request(key, service, region, None, "other")


def _body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def members(request: Request, name: str) -> list[str]:
    """A query list parameter (``Name.member.1``, ``Name.member.2``, ...) in order."""
    prefix = f"{name}.member."
    items = [(int(k[len(prefix):]), v[0]) for k, v in request.multi.items()
             if k.startswith(prefix) and k[len(prefix):].isdigit()]
    return [value for _, value in sorted(items)]


@dataclass(frozen=True)
class Answer:
    """An HTTP answer the world writes itself."""

    status: int
    body: bytes
    content_type: str
    error_code: str | None = None

    def send(self, start_response: Callable[..., Any]) -> Iterable[bytes]:
        """Write it through WSGI."""
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body))),
                   ("x-amzn-RequestId", str(uuid.uuid4()))]
        if self.error_code:
            headers.append(("x-amzn-ErrorType", self.error_code))
        start_response(f"{self.status} {'OK' if self.status < 400 else 'Error'}", headers)
        return [self.body]


def json_answer(payload: dict[str, Any]) -> Answer:
    """A JSON-protocol (1.1) success."""
    return Answer(200, json.dumps(payload).encode(), "application/x-amz-json-1.1")


def json_error(code: str, message: str, status: int = 400) -> Answer:
    """A JSON-protocol error: ``{"__type": code, "message": ...}``."""
    payload = {"__type": code, "message": message}
    return Answer(status, json.dumps(payload).encode(), "application/x-amz-json-1.1", code)


def xml_answer(action: str, namespace: str, result: str) -> Answer:
    """A query-protocol success: ``<ActionResponse><ActionResult>result</ActionResult>...``."""
    xml = (f'<{action}Response xmlns="{namespace}"><{action}Result>{result}</{action}Result>'
           f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
           f"</{action}Response>")
    return Answer(200, xml.encode(), "text/xml")


def xml_error(code: str, message: str, status: int) -> Answer:
    """A query-protocol error: ``<ErrorResponse><Error><Type>..<Code>..<Message>..``."""
    kind = "Receiver" if status >= 500 else "Sender"
    xml = (f"<ErrorResponse><Error><Type>{kind}</Type><Code>{escape(code)}</Code>"
           f"<Message>{escape(message)}</Message></Error>"
           f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return Answer(status, xml.encode(), "text/xml", code)


def element(name: str, value: str | int | bool | None) -> str:
    """``<name>value</name>`` (booleans as ``true``/``false``); nothing for None."""
    if value is None:
        return ""
    text = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
    return f"<{name}>{text}</{name}>"
