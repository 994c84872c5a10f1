"""The rollback lock: one SSM parameter, created with ``put_parameter(Overwrite=False)`` so that of two
operators exactly one gets it. Taking, breaking and releasing it are plan steps like any other change
(allowlisted, executed and audited by the runner)."""
from __future__ import annotations

import os
import socket
import sys
import uuid
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws.holder import LOCK, Holder, read_holder, read_holder_or_note
from ops.aws.session import translate
from ops.change.audit import Audit
from ops.change.execute import execute
from ops.change.steps import Plan, Step
from ops.config import BREAK_SUFFIX
from ops.errors import OperationFailed, ToolkitError
from ops.runtime import Runtime, Say


class LockHeld(OperationFailed):
    """Someone else's rollback holds the lock: nothing was changed."""


def new_holder(rt: Runtime, task: str, plan: Plan) -> Holder:
    return Holder(rt.identity().arn, task, socket.gethostname(), os.getpid(), datetime.now(timezone.utc),
                  uuid.uuid4().hex, tuple(s.summary() for s in plan.steps))


def take_step(rt: Runtime, holder: Holder) -> Step:
    name = rt.settings.lock.parameter
    return Step(
        service=rt.settings.api_service.service, action=f"take the {LOCK}", client="ssm", operation="put_parameter",
        params={"Name": name, "Value": holder.value(), "Type": "String", "Overwrite": False,
                "Description": "sandbox-broker rollback toolkit: one rollback at a time"},
        before="free", after=f"held by {holder.caller}", undo=release_command(rt),
    )


def release_step(rt: Runtime, holder: Holder, action: str = f"release the {LOCK}", name: str | None = None) -> Step:
    return Step(
        service=rt.settings.api_service.service, action=action, client="ssm", operation="delete_parameter",
        params={"Name": name or rt.settings.lock.parameter}, before=f"held by {holder.caller}", after="free",
    )


def marker_name(rt: Runtime) -> str:
    """The parameter a lock breaker holds while it breaks (so that two breakers never interleave)."""
    return rt.settings.lock.parameter + BREAK_SUFFIX


def marker_step(rt: Runtime) -> Step:
    return Step(
        service=rt.settings.api_service.service, action=f"mark that the {LOCK} is being broken", client="ssm",
        operation="put_parameter", params={"Name": marker_name(rt), "Value": rt.identity().arn, "Type": "String",
                                           "Overwrite": False}, before="-", after="breaking",
    )


def release_command(rt: Runtime) -> str:
    """The ``aws`` command that removes the lock by hand."""
    s = rt.settings
    profile = f" --profile {s.aws.profile}" if s.aws.profile else ""
    return f"aws ssm delete-parameter --name {s.lock.parameter} --region {s.aws.region}{profile}"


def held_error(rt: Runtime, holder: Holder) -> LockHeld:
    stale = holder.age() > rt.settings.lock.stale_after
    hint = ("it is older than lock.stale_after: pass --break-lock to remove it" if stale else
            f"wait for it to finish (see `inv status`); --break-lock removes a lock older than "
            f"{int(rt.settings.lock.stale_after)}s (lock.stale_after)")
    return LockHeld(f"the {LOCK} ({rt.settings.lock.parameter}) is held by {holder.describe()}: nothing was changed",
                    hint)


def is_taken(exc: BaseException) -> bool:
    """``put_parameter(Overwrite=False)`` lost the race: the parameter exists."""
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "ParameterAlreadyExists"


def still_ours(rt: Runtime, holder: Holder) -> bool | None:
    """Whether the lock still names this run (None: cannot tell)."""
    try:
        current = read_holder(rt)
    except (BotoCoreError, ClientError):
        return None
    return current is not None and current.token == holder.token


def note_if_held(rt: Runtime) -> str | None:
    """For ``--dry-run``: who holds the lock, or None (unreadable is said too)."""
    holder, note = read_holder_or_note(rt)
    if holder is None:
        return note
    return f"the {LOCK} is held by {holder.describe()}: a real run would stop there"


def acquire(rt: Runtime, task: str, plan: Plan, audit: Audit, break_lock: bool, say: Say) -> Holder:
    """Take the rollback lock (a step, audited); held by someone else: LockHeld, nothing changed."""
    holder = new_holder(rt, task, plan)
    take = Plan("lock", [take_step(rt, holder)])
    for _ in range(3):
        try:
            execute(take, rt.client, audit, _quiet)
            say(f"took the {LOCK} {rt.settings.lock.parameter}")
            return holder
        except ClientError as exc:
            if not is_taken(exc):
                raise
        current = read_holder(rt)
        if current is None:
            continue  # released between our attempt and the read: try again
        if not break_lock:
            raise held_error(rt, current)
        _break(rt, current, audit, say)
        break_lock = False  # broken once; if someone else takes it now, it is theirs
    raise LockHeld(f"could not take the {LOCK}: it keeps changing hands: nothing was changed",
                   "see `inv status`, then try again")


def _break(rt: Runtime, stale: Holder, audit: Audit, say: Say) -> None:
    """Remove a lock older than ``lock.stale_after``. Breakers first take a marker parameter (atomically,
    ``Overwrite=False``), so that two of them never both delete and retake: exactly one holds it after."""
    if stale.age() <= rt.settings.lock.stale_after:
        gone = "; its process on this host is gone" if stale.gone() else ""
        raise LockHeld(f"refusing to break the {LOCK}: it is held by {stale.describe()}, younger than "
                       f"lock.stale_after ({int(rt.settings.lock.stale_after)}s){gone}: nothing was changed",
                       "wait for it to finish (see `inv status`), ask its holder, or remove it by hand: "
                       + release_command(rt))
    marker = Plan("break marker", [marker_step(rt)])
    try:
        execute(marker, rt.client, audit, _quiet)
    except ClientError as exc:
        if is_taken(exc):
            raise LockHeld(f"another operator is breaking the {LOCK} right now: nothing was changed",
                           "see `inv status`, then try again") from None
        raise
    try:
        current = read_holder(rt)
        if current is not None and current.token == stale.token and current.started_at == stale.started_at:
            say(f"breaking the stale {LOCK}: removing {rt.settings.lock.parameter}, held by {stale.describe()}"
                + (f"; its plan: {'; '.join(stale.plan)}" if stale.plan else ""))
            execute(Plan("break", [release_step(rt, stale, f"break the stale {LOCK}")]), rt.client, audit, _quiet)
    finally:
        execute(Plan("break marker", [release_step(rt, stale, "remove the break marker", marker_name(rt))]),
                rt.client, audit, _quiet)


def release(rt: Runtime, holder: Holder, audit: Audit, say: Say) -> None:
    """Release the lock if it is still ours; a release that fails is said, with the command to do it by hand."""
    manual = release_command(rt)
    try:
        if still_ours(rt, holder) is False:
            _warn(f"the {LOCK} is no longer this run's (someone broke it): left as it is")
            return
        execute(Plan("unlock", [release_step(rt, holder)]), rt.client, audit, _quiet)
        say(f"released the {LOCK}")
    except (ToolkitError, BotoCoreError, ClientError) as exc:
        error = translate(exc, rt.settings.aws.profile)
        _warn(f"could not release the {LOCK} ({error.message}): remove it by hand: {manual}")
    except KeyboardInterrupt:
        _warn(f"interrupted while releasing the {LOCK}: remove it by hand: {manual}")


def _quiet(_: str) -> None:
    """Lock steps are audited but not announced as changes to the services."""


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
