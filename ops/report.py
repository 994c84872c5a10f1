"""Rendering: tabulate tables and JSON documents (JUnit lives beside verify)."""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence

from tabulate import tabulate

from ops.ecs import Service, short_td
from ops.images import DeploymentImages, short_digest


def emit_json(document: Any) -> None:
    """One JSON document on stdout and nothing else there."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str]) -> str:
    return tabulate(list(rows), headers=list(headers), tablefmt="simple")


def services_table(services: Iterable[Service]) -> str:
    rows = [
        (
            s.name,
            s.status,
            f"{s.running}/{s.desired}/{s.pending}",
            short_td(s.task_definition),
            s.rollout_state or "-",
            len(s.deployments),
        )
        for s in services
    ]
    return table(rows, ["service", "status", "running/desired/pending", "task definition", "rollout", "deployments"])


def deployments_table(service: Service, images: dict[str, DeploymentImages] | None = None) -> str:
    """One row per deployment; with ``images``, each deployment's short digests and its images' tags."""
    headers = ["deployment", "id", "task definition", "running/desired/pending", "failed", "rollout"]
    rows = []
    for d in service.deployments:
        row: list[Any] = [d.status, d.id, short_td(d.task_definition), f"{d.running}/{d.desired}/{d.pending}",
                          d.failed, d.rollout_state or "-"]
        if images is not None:
            row += _image_cells(images.get(d.id))
        rows.append(row)
    if images is not None:
        headers += ["image digest", "image"]
    return table(rows, headers)


def _image_cells(found: DeploymentImages | None) -> list[str]:
    if found is None:
        return ["-", "?"]
    digests = ", ".join(short_digest(d) for d in found.digests) or "-"
    names = ", ".join(_tag_part(i) for i in found.images) or "?"
    return [digests, f"{names}  MUTABLE TAG" if found.mutable else names]


def _tag_part(image: str) -> str:
    """``...amazonaws.com/sandbox-broker-api:latest`` -> ``sandbox-broker-api:latest``."""
    return image.rsplit("/", 1)[-1]


def with_images(service_json: dict[str, Any], images: dict[str, DeploymentImages]) -> dict[str, Any]:
    """The contract's service object with ``imageDigests``, ``images``, ``mutableTag`` added to each deployment."""
    for deployment in service_json.get("deployments", []):
        found = images.get(deployment.get("id", ""))
        deployment.update(found.to_json() if found else {"imageDigests": [], "images": [], "mutableTag": None})
    return service_json


def mutable_tag_warnings(service: Service, images: dict[str, DeploymentImages]) -> list[str]:
    """One line per task definition whose images use a mutable tag (``:latest``): its code is not pinned."""
    lines, seen = [], set()
    for d in service.deployments:
        found, name = images.get(d.id), short_td(d.task_definition)
        if found is None or not found.mutable or name in seen:
            continue
        seen.add(name)
        tags = ", ".join(_tag_part(i) for i in found.mutable_images)
        lines.append(
            f"warning: {name} uses a mutable tag ({tags}): the revision does not pin its code, so rolling "
            "back to a revision may redeploy whatever the tag points at now; pin images by digest"
        )
    return lines


def events_lines(service: Service, count: int) -> list[str]:
    return [
        f"  {e.created_at:%Y-%m-%d %H:%M:%S} {e.message}" if e.created_at else f"  {e.message}"
        for e in service.events[:count]
    ]
