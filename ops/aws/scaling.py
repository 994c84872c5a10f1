"""The worker's Application Auto Scaling target as AWS reports it (read only: ``ops.change.worker`` changes it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import ClientError

SCALING_DIMENSION = "ecs:service:DesiredCount"


@dataclass(frozen=True)
class Scaling:
    """The worker's Application Auto Scaling target, if any."""

    resource_id: str
    min_capacity: int
    suspended: dict[str, bool]


def scaling_target(autoscaling: Any, cluster: str, service: str, say: Callable[[str], None]) -> Scaling | None:
    resource_id = f"service/{cluster}/{service}"
    try:
        answer = autoscaling.describe_scalable_targets(
            ServiceNamespace="ecs", ResourceIds=[resource_id], ScalableDimension=SCALING_DIMENSION
        )
    except ClientError as exc:
        say(f"note: cannot read Application Auto Scaling ({exc.response.get('Error', {}).get('Code')}); "
            "if it manages the worker it may undo the change")
        return None
    targets = answer.get("ScalableTargets", [])
    if not targets:
        return None
    t = targets[0]
    return Scaling(resource_id, int(t["MinCapacity"]), dict(t.get("SuspendedState") or {}))
