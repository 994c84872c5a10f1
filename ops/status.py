"""The Quick Status Check: both services, their deployments with image digests, recent events."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ops import report
from ops.ecs import Service, describe_services
from ops.images import images_per_deployment, running_tasks_or_note


@dataclass
class Snapshot:
    services: dict[str, Service]
    images: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The contract's ``{"services": [...]}`` (deployments carry image digests as additions)."""
        return {"services": [report.with_images(s.to_json(), self.images[n]) for n, s in self.services.items()]}


def gather(rt: Any) -> Snapshot:
    """One describe_services for both services, and (at the same time) their running tasks; then a
    task definition only for a deployment none of whose tasks run."""
    names = [s.service for s in rt.settings.services]
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="status") as pool:  # boto3 clients are thread-safe
        tasks_future = pool.submit(running_tasks_or_note, rt.ecs, rt.settings.cluster, names)
        services = describe_services(rt.ecs, rt.settings.cluster, names)
        tasks, notes = tasks_future.result()
    images, more_notes = images_per_deployment(rt.ecs, services.values(), tasks)
    return Snapshot(services=services, images=images, notes=notes + more_notes)


def render(snapshot: Snapshot, events: int) -> str:
    """The tables and the last ``events`` service events of each service."""
    lines = [report.services_table(snapshot.services.values())]
    for name, service in snapshot.services.items():
        count = len(service.deployments)
        lines += ["", f"{name}: {count} deployment{'' if count == 1 else 's'}",
                  report.deployments_table(service, snapshot.images[name])]
        lines += report.mutable_tag_warnings(service, snapshot.images[name])
    for name, service in snapshot.services.items():
        recent = report.events_lines(service, events)
        if recent:
            lines += ["", f"last events of {name}:", *recent]
    return "\n".join(lines)
