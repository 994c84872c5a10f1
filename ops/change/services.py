"""Both services read once for a command, and the runbook's rule across them: never change both at once."""
from __future__ import annotations

from dataclasses import dataclass

from ops.aws.ecs import Service, describe_services
from ops.errors import Refused
from ops.runtime import Runtime, Say


@dataclass(frozen=True)
class Pair:
    """The API service and the worker service, as one ``describe_services`` call saw them."""

    api: Service
    worker: Service


def read_pair(rt: Runtime) -> Pair:
    s = rt.settings
    found = describe_services(rt.ecs, s.cluster, [s.api_service.service, s.worker_service.service])
    return Pair(found[s.api_service.service], found[s.worker_service.service])


def is_rolling_out(service: Service) -> bool:
    """More than one deployment, or a PRIMARY still IN_PROGRESS."""
    primary = service.primary
    return len(service.deployments) > 1 or (primary is not None and primary.rollout_state == "IN_PROGRESS")


def refuse_while_rolling(other: Service, doing: str, force: bool, say: Say = print) -> None:
    """The runbook: never restart both services at once (a failing, unchanging service is no rollout)."""
    if force or other.is_steady:
        return
    if not is_rolling_out(other) and other.failed_tasks > 0:
        say(f"note: {other.name} is failing (running {other.running}/{other.desired}, {other.failed_tasks} failed "
            "tasks), not rolling out: going ahead")
        return
    raise Refused(
        f"refusing to {doing} while {other.name} is still rolling out "
        f"({len(other.deployments)} deployment(s), running {other.running}/{other.desired}, {other.rollout_state or '-'})",
        "the runbook says never to change both services at once: run `inv wait` first, or pass --force",
    )
