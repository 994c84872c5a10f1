"""``inv guard``: the CI step after a deploy. Follow both services' current deployments to their end,
verify, and when the release failed roll the API back to the last good revision from ECS's history
(natively while the release is in flight, Option 1 otherwise, Option 2 by digest when the same-image
rule applies), then verify again. Never prompts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ops.aws.ecs import short_td
from ops.aws.history import History
from ops.change.api import RevisionRequest, api_phase
from ops.change.image import ImageRequest, image_phase
from ops.change.moved_tag import SameImageRefused
from ops.change.runner import Options, Phase, run, verify_now
from ops.change.services import Pair, read_pair
from ops.change.target import read_history
from ops.checks.verify import VerifyResult, run_checks
from ops.checks.wait import Goal, wait_for
from ops.config import token_from_env
from ops.errors import CredentialsError, ToolkitError, VerificationFailed, WaitFailed
from ops.notify import Notifier
from ops.runtime import Runtime, Say

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

TASK = "guard"
Verdict = Literal["healthy", "rolled-back", "failed"]


@dataclass
class GuardReport:
    """What happened to the release; ``checks`` are the last verification's."""

    release: str
    outcome: Verdict = "failed"
    rolled_back_to: str | None = None
    deployment: str = ""  # how the release's deployment ended
    checks: VerifyResult | None = None
    release_checks: VerifyResult | None = None  # the verification of the release itself
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome == "healthy"

    def summary(self) -> str:
        why = "; ".join(self.reasons)
        if self.outcome == "healthy":
            return f"release {self.release} is healthy: {self.deployment}, verification passed"
        if self.outcome == "rolled-back":
            return f"release {self.release} FAILED ({why}); rolled back to {self.rolled_back_to} and verified"
        return f"release {self.release} FAILED ({why})"

    def to_json(self) -> dict[str, Any]:
        """The contract's document (``deployment``, ``reasons`` and ``releaseChecks`` are additions)."""
        return {"ok": self.ok, "outcome": self.outcome, "release": self.release, "rolledBackTo": self.rolled_back_to,
                "checks": [c.to_json() for c in self.checks.checks] if self.checks else [],
                "deployment": self.deployment, "reasons": self.reasons,
                "releaseChecks": [c.to_json() for c in self.release_checks.checks] if self.release_checks else []}


def guard(rt: Runtime, timeout: float | None, rollback: bool, say: Say = print, break_lock: bool = False
          ) -> GuardReport:
    """Follow, verify, and (unless ``rollback`` is False) roll a failed release back."""
    pair = read_pair(rt)
    report = GuardReport(release=short_td(pair.api.task_definition))
    rolled_back = _rolled_back_already(rt, report)
    deployed = _follow(rt, pair, timeout, report, say) and not rolled_back
    report.release_checks = report.checks = _verify(rt)
    if deployed and report.checks.ok:
        report.outcome = "healthy"
        return report
    if not report.checks.ok:
        report.reasons.append(f"verification failed: {', '.join(c.name for c in report.checks.failed)}")
    if not rollback:
        report.reasons.append("not rolled back (--no-rollback)")
        _tell(rt, report)
        return report
    _roll_back(rt, report, Options(yes=True, wait=True, timeout=timeout, break_lock=break_lock), say)
    return report


def _rolled_back_already(rt: Runtime, report: GuardReport) -> bool:
    """The newest service deployment ended in a rollback (ECS's circuit breaker was quicker than this job):
    that release failed, whatever runs now."""
    history, _ = read_history(rt, rt.settings.api_service.service)
    newest = history.newest(1) if history is not None else []
    if not newest or not newest[0].status.startswith("ROLLBACK") or newest[0].task_definition in (None, report.release):
        return False
    failed = newest[0]
    report.release = str(failed.task_definition)
    report.deployment = f"ECS rolled the release back ({failed.status}: {failed.status_reason or 'no reason given'})"
    report.reasons.append(f"deployment: {report.deployment}")
    return True


def _follow(rt: Runtime, pair: Pair, timeout: float | None, report: GuardReport, say: Say) -> bool:
    """Wait for both services' current deployments to end (one describe a poll); False: it failed."""
    s = rt.settings
    goals = [Goal(pair.api.name, task_definition=pair.api.task_definition), Goal(pair.worker.name)]
    say(f"guard: following {report.release} and {short_td(pair.worker.task_definition)} to the end of their deployments")
    try:
        wait_for(rt.ecs, s.cluster, goals, timeout or s.wait.timeout, s.wait.poll, s.wait.poll_max)
    except WaitFailed as failed:
        report.deployment = failed.message
        report.reasons.append(f"deployment: {failed.message}")
        return False
    report.deployment = report.deployment or "deployment COMPLETED"
    return True


def _verify(rt: Runtime) -> VerifyResult:
    token = token_from_env(rt.settings)
    return run_checks(rt.settings, rt.ecs, token, allocate=token is not None)


def _roll_back(rt: Runtime, report: GuardReport, options: Options, say: Say) -> None:
    """Roll back to the history's last good revision (whatever known_good_revision says), then verify."""
    history, unreadable = read_history(rt, rt.settings.api_service.service)
    last_good = history.last_good(report.release) if history is not None else None
    if last_good is None or last_good.task_definition is None:
        report.reasons.append(f"not rolled back: {unreadable or 'no last good revision in ECS deployment history'}")
        _tell(rt, report)
        return
    target = last_good.task_definition
    pair = read_pair(rt)
    try:
        phase = _phase(rt, pair, target, (history, unreadable), say)
    except ToolkitError as error:
        if error.exit_code == 130 or isinstance(error, CredentialsError):
            raise
        report.reasons.append(f"not rolled back to {target}: {error.message.splitlines()[0]}")
        _tell(rt, report)
        return
    try:
        if phase is None:  # ECS's circuit breaker already put the last good revision back
            say(f"guard: {pair.api.name} is back on {target} already (ECS rolled it back): waiting, then verifying")
            s = rt.settings
            wait_for(rt.ecs, s.cluster, [Goal(pair.api.name, task_definition=target)],
                     options.timeout or s.wait.timeout, s.wait.poll, s.wait.poll_max)
            report.checks = verify_now(rt, say)
        else:
            outcome = run(rt, TASK, f"guard: roll back {pair.api.name} from {report.release} to {target}", [phase],
                          options, say=say)
            report.checks = outcome.verification
            if outcome.executed.registered_arn:  # by digest (Option 2): a new revision runs the old image
                target = short_td(outcome.executed.registered_arn)
    except VerificationFailed as failed:
        report.checks = failed.result if isinstance(failed.result, VerifyResult) else report.checks
        report.reasons.append(f"rolled back to {target}, but {failed.message}")
        return
    except ToolkitError as error:
        if error.exit_code != 1:  # Ctrl-C (130) and bad input (2) end the task as they do everywhere
            raise
        report.reasons.append(f"the rollback to {target} failed: {error.message.splitlines()[0]}")
        return
    report.outcome, report.rolled_back_to = "rolled-back", target


def junit(report: GuardReport) -> "ET.Element":
    """One testcase a CI system shows for the release (what happened to it), then the last verification's."""
    from ops.checks.junit import Case, check_case, suite

    release = Case(f"release {report.release}", failure=None if report.ok else report.summary(),
                   output=report.summary(), kind="ReleaseFailed")
    return suite(TASK, [release, *(check_case(c) for c in (report.checks.checks if report.checks else ()))])


def _phase(rt: Runtime, pair: Pair, target: str, read: tuple[History | None, str | None], say: Say) -> Phase | None:
    """Native while in flight, else Option 1; Option 2 by digest when Option 1 would redeploy the same code;
    None when ECS already deploys ``target`` (its circuit breaker rolled the release back)."""
    primary = pair.api.primary
    if primary is not None and short_td(primary.task_definition) == target:
        return None
    try:
        return api_phase(rt, pair, RevisionRequest(revision=target), say, read=read)
    except SameImageRefused as refusal:
        if len(refusal.pinned) != 1:
            raise
        pinned = refusal.pinned[0]
        say(f"guard: {target} would redeploy the running digest; rolling back by digest to {pinned.image}")
        return image_phase(rt, pair, ImageRequest(pinned.image, pinned.container), say)


def _tell(rt: Runtime, report: GuardReport) -> None:
    """A failed release that was not rolled back is still news for the channel."""
    caller = rt.identity().arn
    notifier = Notifier.for_run(rt.settings, TASK, caller)
    notifier.send("failed", [], None, "; ".join(report.reasons),
                  headline=f"{rt.settings.api_service.service} release {report.release} FAILED (guard, {caller})")
    notifier.flush()
