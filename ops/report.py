"""Rendering: tabulate tables and JSON documents (JUnit lives beside verify)."""
from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Sequence

from tabulate import tabulate

from ops.ecs import Service, short_td


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


def deployments_table(service: Service) -> str:
    rows = [
        (d.status, d.id, short_td(d.task_definition), f"{d.running}/{d.desired}/{d.pending}", d.failed, d.rollout_state or "-")
        for d in service.deployments
    ]
    return table(rows, ["deployment", "id", "task definition", "running/desired/pending", "failed", "rollout"])


def events_lines(service: Service, count: int) -> list[str]:
    return [
        f"  {e.created_at:%Y-%m-%d %H:%M:%S} {e.message}" if e.created_at else f"  {e.message}"
        for e in service.events[:count]
    ]
