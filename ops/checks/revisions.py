"""``inv revisions``: the API service's deployments from ECS's own history, newest first, and the target
``rollback.api`` would pick without ``--revision`` (and why)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.aws.ecr import short_digest
from ops.aws.ecs import describe_services, short_td
from ops.aws.history import Deployment, History, iso
from ops.change.target import Choice, choose
from ops.report import table
from ops.runtime import Runtime


@dataclass(frozen=True)
class Revisions:
    service: str
    current: str
    choice: Choice
    deployments: list[Deployment]
    total: int  # deployments ECS keeps (90 days); ``deployments`` are the newest ``--limit`` of them

    def to_json(self) -> dict[str, Any]:
        """The contract's ``inv revisions --json`` document."""
        return {"service": self.service, "current": self.current, "target": self.choice.target,
                "targetSource": self.choice.source, "deployments": [d.to_json() for d in self.deployments]}


def gather(rt: Runtime, limit: int) -> Revisions:
    """One describe_services, the history's pages, and the newest ``limit`` deployments' revisions."""
    name = rt.settings.api_service.service
    api = describe_services(rt.ecs, rt.settings.cluster, [name])[name]
    history = History.of(rt.ecs, rt.settings.cluster, name)
    current = short_td(api.task_definition)
    shown = history.newest(limit)
    return Revisions(name, current, choose(rt.settings, current, history), shown, len(history))


def _images(deployment: Deployment) -> str:
    if deployment.revision is None:
        return "?"
    return ", ".join(f"{i.container}: {i.image.rsplit('/', 1)[-1]} ({short_digest(i.digest)})"
                     for i in deployment.revision.images) or "-"


def _marks(deployment: Deployment, report: Revisions, current_marked: list[bool]) -> str:
    marks = []
    if deployment.task_definition == report.current and not current_marked:
        marks.append("current")
        current_marked.append(True)
    if report.choice.last_good is not None and deployment.arn == report.choice.last_good.arn:
        marks.append("last good")
    return ", ".join(marks)


def render(report: Revisions) -> str:
    """The table, then which revision ``rollback.api`` would pick, and why."""
    if not report.deployments:
        lines = [f"{report.service}: ECS's deployment history has no deployments (it keeps 90 days)"]
    else:
        marked: list[bool] = []
        rows = [(d.task_definition or "?", d.status, iso(d.started_at) or "-", iso(d.finished_at) or "-",
                 _images(d), _marks(d, report, marked)) for d in report.deployments]
        more = report.total - len(report.deployments)
        lines = [f"{report.service}: current {report.current}; the newest {len(rows)} of {report.total} deployments"
                 + (f" (--limit {len(rows) + more} shows all)" if more > 0 else ""),
                 table(rows, ["task definition", "status", "started", "finished", "images (digest)", ""])]
    lines.append(_target_line(report))
    if report.choice.warning:
        lines.append(report.choice.warning)
    return "\n".join(lines)


def _target_line(report: Revisions) -> str:
    choice = report.choice
    if choice.source == "config":
        return f"target: {choice.target} (ecs.api.known_good_revision pins it)"
    if choice.source == "history":
        return f"target: {choice.target} (the last SUCCESSFUL deployment of another revision; known_good_revision: auto)"
    return ("target: none: known_good_revision is auto and the history has no SUCCESSFUL deployment of another "
            "revision; pass --revision N to rollback.api")
