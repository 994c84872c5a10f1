"""The Quick Status Check: both services, their deployments with image digests, recent events."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ops import report
from ops.ecs import Service, describe_services
from ops.images import images_per_deployment


@dataclass
class Snapshot:
    services: dict[str, Service]
    images: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The contract's ``{"services": [...]}`` (deployments carry image digests as additions)."""
        return {"services": [report.with_images(s.to_json(), self.images[n]) for n, s in self.services.items()]}


def gather(rt: Any) -> Snapshot:
    """One describe_services for both services, plus their tasks' and task definitions' images."""
    names = [s.service for s in rt.settings.services]
    services = describe_services(rt.ecs, rt.settings.cluster, names)
    images, notes = images_per_deployment(rt.ecs, rt.settings.cluster, services.values())
    return Snapshot(services=services, images=images, notes=list(notes))


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
