"""The rollback target of Options 1 and 4: chosen from ECS's deployment history or the config pin,
``--revision`` parsed, and the revision checked against ECS."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws import ecs as ecs_mod
from ops.aws.ecs import Service, short_td
from ops.aws.history import Deployment, History, iso, revision_number
from ops.aws.session import translate
from ops.config import Settings
from ops.errors import CredentialsError, NotFound, UsageError
from ops.runtime import Runtime


@dataclass(frozen=True)
class Target:
    family: str
    revision: int
    document: dict[str, Any]  # describe_task_definition's ``taskDefinition``

    @property
    def name(self) -> str:
        return f"{self.family}:{self.revision}"


def parse_revision(text: str | int | None, family: str, default: int) -> tuple[str, int]:
    """``--revision``: ``N``, ``family:N`` or a task definition ARN (default: ``ecs.api.known_good_revision``)."""
    if text is None or text == "":
        return family, default
    raw = short_td(str(text).strip())
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


# ---------------------------------------------------------------- the target from ECS's deployment history


@dataclass(frozen=True)
class Choice:
    """What Options 1 and 4 target without ``--revision``, and why (``inv revisions`` shows it)."""

    target: str | None  # family:revision; None: there is nothing to roll back to
    source: str  # "config" (known_good_revision pinned), "history" (auto) or "none"
    last_good: Deployment | None  # the newest SUCCESSFUL deployment of another revision
    warning: str | None = None  # the pin skips a newer good release
    note: str | None = None  # why the history could not be read


def release_in_flight(api: Service, history: History | None) -> Deployment | None:
    """The API's release still rolling out (its PRIMARY IN_PROGRESS, its deployment ongoing in the history):
    the deployment ECS's native rollback would stop; None when there is none."""
    primary = api.primary
    if history is None or primary is None or primary.rollout_state != "IN_PROGRESS":
        return None
    return history.in_flight(short_td(api.task_definition))


def goes_native(api: Service, history: History | None, choice: Choice) -> bool:
    """Whether ``rollback.api`` (without --no-native) would roll back natively to the chosen target: a release
    in flight and the target is the last good revision (recorded digests: no moved tag to route around)."""
    last_good = choice.last_good
    return (release_in_flight(api, history) is not None and last_good is not None
            and last_good.task_definition == choice.target)


def read_history(rt: Runtime, service: str) -> tuple[History | None, str | None]:
    """The API service's deployment history, or None and why it cannot be read (bad credentials still raise)."""
    try:
        return History.of(rt.ecs, rt.settings.cluster, service), None
    except (BotoCoreError, ClientError) as exc:
        error = translate(exc, rt.settings.aws.profile)
        if isinstance(error, CredentialsError):
            raise error from None
        return None, f"cannot read ECS's deployment history of {service}: {error.message}"


def choose(settings: Settings, current: str, history: History | None, note: str | None = None) -> Choice:
    """The contract's rule: the pin when ``known_good_revision`` is a number (warning when the history
    shows a newer good release), else the last good revision from the history."""
    family, pinned = settings.api_service.family or "", settings.api_service.known_good_revision
    last_good = history.last_good(current) if history is not None else None
    if pinned is None:
        source = "history" if last_good else "none"
        return Choice(last_good.task_definition if last_good else None, source, last_good, note=note)
    newer = history.newer_good(current, pinned) if history is not None else None
    warning = None
    if newer is not None:
        when = f" (finished {iso(newer.finished_at)})" if newer.finished_at else ""
        warning = (f"warning: ecs.api.known_good_revision pins {family}:{pinned}, but {newer.task_definition} "
                   f"deployed successfully after it{when}: rolling back to {family}:{pinned} skips that release; "
                   f"pass --revision {revision_number(newer.task_definition)} (or set known_good_revision: auto) "
                   "to roll back one release")
    return Choice(f"{family}:{pinned}", "config", last_good, warning, note)


def no_target(service: str, choice: Choice) -> UsageError:
    """known_good_revision is auto and the history has no last good revision: exit 2, nothing changed."""
    why = choice.note or f"ECS's deployment history of {service} has no SUCCESSFUL deployment of another revision"
    return UsageError(f"no rollback target: known_good_revision is auto and {why}",
                      "pass --revision N (list candidates with `inv revisions`): nothing was changed")
