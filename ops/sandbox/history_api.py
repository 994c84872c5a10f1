"""ECS's service deployment APIs over HTTP, which moto lacks: a WSGI layer in front of moto.

Answers ``ListServiceDeployments``, ``DescribeServiceDeployments``, ``DescribeServiceRevisions`` and
``StopServiceDeployment`` (JSON 1.1, ``X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Op>``) from
the simulator's history, with ECS's shapes, errors and pagination; every other request goes on to
moto. It runs under the world's lock (inside the AWS server's locking layer).

ListServiceDeployments lists newest first (by createdAt). AWS does not document an order; the ECS
console and CLI examples show the newest first, and callers should not rely on it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from moto.ecs.models import EC2ContainerServiceBackend, Service

from .faults import WsgiApp
from .history import STATUSES
from .simulator import RolloutSimulator
from .wire import AwsError

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
MAX_DESCRIBE = 20
DEFAULT_PAGE, MAX_PAGE = 20, 100
_ARN = re.compile(r"^arn:aws:ecs:[a-z0-9-]+:\d{12}:(service-deployment|service-revision)/[^/]+/[^/]+/[^/]+$")

Params = dict[str, Any]


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


class HistoryApi:
    """The four operations, answered from ``simulator.history`` (lookups in ``backend``)."""

    def __init__(self, simulator: RolloutSimulator, backend: EC2ContainerServiceBackend) -> None:
        self._sim = simulator
        self._backend = backend
        self._operations: dict[str, Callable[[Params], Params]] = {
            "ListServiceDeployments": self.list_service_deployments,
            "DescribeServiceDeployments": self.describe_service_deployments,
            "DescribeServiceRevisions": self.describe_service_revisions,
            "StopServiceDeployment": self.stop_service_deployment,
        }

    def middleware(self, app: WsgiApp) -> WsgiApp:
        """Wrap moto's WSGI app: the four operations are answered here, the rest by ``app``."""

        def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            operation = self._operations.get(target.removeprefix(TARGET_PREFIX)) \
                if target.startswith(TARGET_PREFIX) else None
            if operation is None:
                return app(environ, start_response)
            status, body = self._answer(operation, _read_body(environ))
            start_response(status, [
                ("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body))),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ])
            return [body]

        return wrapped

    def _answer(self, operation: Callable[[Params], Params], body: bytes) -> tuple[str, bytes]:
        try:
            params = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return _error(_invalid("The request body is not valid JSON."))
        if not isinstance(params, dict):
            return _error(_invalid("The request body must be a JSON object."))
        try:
            return "200 OK", _dumps(operation(params))
        except AwsError as error:
            return _error(error, params.get("serviceDeploymentArn"))

    # -- the operations --------------------------------------------------------------------

    def list_service_deployments(self, params: Params) -> Params:
        """ListServiceDeployments: one service's deployments, newest first, filtered and paginated."""
        service = self._service(params.get("cluster") or "default", params.get("service"))
        statuses = _statuses(params.get("status"))
        after, before = _window(params.get("createdAt"))
        limit = _page_size(params.get("maxResults"))
        found = [d for d in self._sim.history.of_service(service.arn)
                 if (not statuses or d.status in statuses)
                 and (after is None or d.created_at >= after) and (before is None or d.created_at <= before)]
        start = _offset(params.get("nextToken"), [d.arn for d in found])
        page = found[start:start + limit]
        answer: Params = {"serviceDeployments": [d.brief() for d in page]}
        if start + limit < len(found):
            answer["nextToken"] = _token(page[-1].arn)
        return answer

    def describe_service_deployments(self, params: Params) -> Params:
        """DescribeServiceDeployments: up to 20 ARNs; unknown ones are failures (MISSING)."""
        arns = _arns(params.get("serviceDeploymentArns"), "serviceDeploymentArns")
        known = self._sim.history.deployments
        return {"serviceDeployments": [known[a].describe() for a in arns if a in known],
                "failures": [_missing(a) for a in arns if a not in known]}

    def describe_service_revisions(self, params: Params) -> Params:
        """DescribeServiceRevisions: up to 20 ARNs; unknown ones are failures (MISSING)."""
        arns = _arns(params.get("serviceRevisionArns"), "serviceRevisionArns")
        known = self._sim.history.revisions
        return {"serviceRevisions": [known[a].describe() for a in arns if a in known],
                "failures": [_missing(a) for a in arns if a not in known]}

    def stop_service_deployment(self, params: Params) -> Params:
        """StopServiceDeployment: stopType ROLLBACK (the valid value ECS documents; the default here)."""
        arn = params.get("serviceDeploymentArn")
        if not isinstance(arn, str) or not arn:
            raise _invalid("serviceDeploymentArn is required.")
        stop_type = params.get("stopType") or "ROLLBACK"
        if stop_type != "ROLLBACK":
            raise _invalid(f"Invalid stopType {stop_type!r}: the valid value is ROLLBACK.")
        if not _ARN.match(arn) or ":service-deployment/" not in arn:
            raise _invalid(f"Invalid service deployment ARN: {arn}")
        self._sim.stop_service_deployment(arn)
        return {"serviceDeploymentArn": arn}

    def _service(self, cluster_ref: Any, service_ref: Any) -> Service:
        if not isinstance(service_ref, str) or not service_ref:
            raise _invalid("service is required: the name or ARN of the service.")
        cluster_name = str(cluster_ref).split("/")[-1]
        if cluster_name not in self._backend.clusters:
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
        service = self._backend.services.get(f"{cluster_name}:{service_ref.split('/')[-1]}")
        if service is None or service.status != "ACTIVE":
            raise AwsError("ServiceNotFoundException", "Service not found.")
        return service


# -- parameters -----------------------------------------------------------------------------

def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _statuses(value: Any) -> set[str]:
    if value is None:
        return set()
    if not isinstance(value, list) or any(s not in STATUSES for s in value):
        raise _invalid(f"Invalid status filter {value!r}: valid values are {', '.join(STATUSES)}.")
    return set(value)


def _window(value: Any) -> tuple[datetime | None, datetime | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise _invalid("createdAt must be an object with before and/or after.")
    return _time(value.get("after"), "after"), _time(value.get("before"), "before")


def _time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"createdAt.{name} must be a timestamp.")
    return datetime.fromtimestamp(value, timezone.utc)


def _page_size(value: Any) -> int:
    if value is None:
        return DEFAULT_PAGE
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
        raise _invalid(f"maxResults must be between 1 and {MAX_PAGE}.")
    return value


def _token(last_arn: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_arn}).encode()).decode()


def _offset(token: Any, arns: list[str]) -> int:
    """Where the page after ``token`` starts in ``arns``."""
    if token is None:
        return 0
    try:
        last = json.loads(base64.urlsafe_b64decode(str(token).encode()))["after"]
        return arns.index(last) + 1
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _invalid("Invalid nextToken.") from None


def _arns(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise _invalid(f"{name} must be a non-empty list of ARNs.")
    if len(value) > MAX_DESCRIBE:
        raise _invalid(f"{name} can have at most {MAX_DESCRIBE} ARNs; {len(value)} were given.")
    return value


def _missing(arn: str) -> Params:
    return {"arn": arn, "reason": "MISSING"}


# -- answers --------------------------------------------------------------------------------

def _dumps(document: Params) -> bytes:
    """JSON 1.1 with timestamps as epoch seconds."""
    return json.dumps(document, default=lambda value: value.timestamp()).encode()


def _error(error: AwsError, arn: str | None = None) -> tuple[str, bytes]:
    body: Params = {"__type": error.code, "message": error.message}
    if error.code == "ConflictException" and arn:
        body["resourceIds"] = [arn]
    return "400 Bad Request", _dumps(body)
