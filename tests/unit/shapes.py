"""ECS answers as AWS shapes them, built small for unit tests (``Service.from_api`` reads them)."""
from __future__ import annotations

from typing import Any

from ops.aws.ecs import Service

REGION_ACCOUNT = "eu-central-1:123456789012"


def td_arn(name: str) -> str:
    return f"arn:aws:ecs:{REGION_ACCOUNT}:task-definition/{name}"


def deployment(td: str, status: str = "PRIMARY", desired: int = 2, running: int | None = None, pending: int = 0,
               failed: int = 0, rollout: str = "COMPLETED", reason: str = "", id: str = "ecs-svc/1") -> dict[str, Any]:
    return {"id": id, "status": status, "taskDefinition": td_arn(td), "desiredCount": desired,
            "runningCount": desired if running is None else running, "pendingCount": pending,
            "failedTasks": failed, "rolloutState": rollout, "rolloutStateReason": reason}


def service(name: str, td: str, deployments: list[dict[str, Any]] | None = None, desired: int | None = None,
            running: int | None = None, pending: int = 0, tags: dict[str, str] | None = None) -> Service:
    found = deployments if deployments is not None else [deployment(td)]
    primary = next((d for d in found if d["status"] == "PRIMARY"), None)
    want = desired if desired is not None else (primary["desiredCount"] if primary else 0)
    return Service.from_api({
        "serviceName": name, "serviceArn": f"arn:aws:ecs:{REGION_ACCOUNT}:service/cluster/{name}",
        "status": "ACTIVE", "desiredCount": want,
        "runningCount": running if running is not None else sum(d["runningCount"] for d in found),
        "pendingCount": pending, "taskDefinition": td_arn(td), "deployments": found, "events": [],
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
    })
