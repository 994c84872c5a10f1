"""The rollback target of Options 1 and 4: ``--revision`` parsed, the revision checked against ECS."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ops.aws import ecs as ecs_mod
from ops.aws.ecs import Service, short_td
from ops.errors import NotFound, UsageError


@dataclass(frozen=True)
class Target:
    family: str
    revision: int
    document: dict[str, Any]  # describe_task_definition's ``taskDefinition``

    @property
    def name(self) -> str:
        return f"{self.family}:{self.revision}"


def parse_revision(text: str | int | None, family: str, default: int) -> tuple[str, int]:
    """``--revision``: ``N`` or ``family:N`` (default: ``ecs.api.known_good_revision``)."""
    if text is None or text == "":
        return family, default
    raw = str(text).strip()
    named_family, _, number = raw.rpartition(":")
    if not re.fullmatch(r"[0-9]{1,9}", number) or int(number) < 1:
        raise UsageError(f"--revision {raw!r} is not a revision number", "pass a whole number such as --revision 8")
    return (named_family or family), int(number)


def resolve_target(ecs: Any, service: Service, family: str, revision: int) -> Target:
    """The target revision, checked: it exists, is ACTIVE, and is in the service's family."""
    service_family = short_td(service.task_definition).rpartition(":")[0]
    if family != service_family:
        raise UsageError(
            f"{family}:{revision} is not in the family of service {service.name} ({service_family})",
            f"pick a revision of {service_family} (check ecs.api.family in invoke.yaml)",
        )
    try:
        document = ecs_mod.describe_task_definition(ecs, f"{family}:{revision}")["taskDefinition"]
    except NotFound:
        raise NotFound(
            f"task definition {family}:{revision} does not exist",
            f"list revisions with `aws ecs list-task-definitions --family-prefix {family}`",
        ) from None
    if document.get("status") != "ACTIVE":
        raise UsageError(
            f"task definition {family}:{revision} is {document.get('status')}, not ACTIVE: ECS cannot deploy it",
            "pick an ACTIVE revision (`aws ecs list-task-definitions --family-prefix "
            f"{family} --status ACTIVE`), or roll back by image with `inv rollback.image`",
        )
    return Target(family=family, revision=revision, document=document)
