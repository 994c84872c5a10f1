"""``inv drill``: the whole rehearsal in one command, in-process, against the sandbox world.

Start the world with a scenario, triage it, run the recommended option non-interactively, wait,
verify, and report each step's measured time beside the runbook's "Rollback Time Estimates".
"""
from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ops import config as config_mod
from ops.change.api import RevisionRequest, rollback_api
from ops.change.full import rollback_full
from ops.change.guard import GuardReport
from ops.change.image import ImageRequest, rollback_image
from ops.change.runner import Options, Outcome, verify_now
from ops.change.worker import StartRequest, worker_start, worker_stop
from ops.checks import triage as triage_mod
from ops.checks.decision import Recommendation
from ops.checks.preflight import Preflight
from ops.errors import Interrupted, OperationFailed, ToolkitError
from ops.report import table
from ops.runtime import Runtime, Say


@dataclass
class DrillReport:
    scenario: str
    recommendation: Recommendation = Recommendation.NONE
    steps: list[tuple[str, float]] = field(default_factory=list)
    verified: bool = False
    final: list[str] = field(default_factory=list)
    preflight: Preflight | None = None  # what `inv preflight` would have said before the incident
    guard: GuardReport | None = None  # the CI step's verdict (``--guard``)
    notifications: list[dict[str, Any]] = field(default_factory=list)  # what the channel received

    def render(self) -> str:
        row = self.recommendation.estimate
        title, total_est = row.title, row.total
        estimate = {"change": row.execute, "verify": row.verify} if total_est and not self.guard else {}
        rows = [(name, f"{seconds:.1f}s", _estimate(name, estimate)) for name, seconds in self.steps]
        total = sum(seconds for _, seconds in self.steps)
        rows.append(("total", f"{total:.1f}s", f"{total_est}s" if estimate else "-"))
        heading = (f"drill report: scenario {self.scenario}, guard (the pipeline's step after a deploy)" if self.guard
                   else f"drill report: scenario {self.scenario}, recommendation {self.recommendation} ({title})")
        lines = [heading, table(rows, ["step", "measured", "runbook estimate"]),
                 "(runbook: 'Time to Execute' is set against change + wait; the sandbox runs rollouts in "
                 "accelerated time, so compare the shape, not the seconds)"]
        lines += self._preflight_lines() + self._guard_lines() + self._notification_lines()
        lines.append("final state:")
        lines += [f"  {line}" for line in self.final]
        lines.append("VERIFIED: the rollback worked" if self.verified else "NOT VERIFIED")
        return "\n".join(lines)

    def _preflight_lines(self) -> list[str]:
        if self.preflight is None:
            return []
        found = [r for r in self.preflight.results if r.status != "PASS"]
        return [f"preflight (what `inv preflight` says before the incident): {self.preflight.summary()}"] + [
            f"  {r.status} {r.name}: {r.detail}" + (f" -> fix: {r.fix}" if r.fix else "") for r in found]

    def _guard_lines(self) -> list[str]:
        if self.guard is None:
            return []
        return [f"guard: outcome {self.guard.outcome}: {self.guard.summary()} (the CI job exits "
                f"{0 if self.guard.ok else 1})"]

    def _notification_lines(self) -> list[str]:
        if not self.notifications:
            return ["notifications: none received"]
        return ["notifications received by the channel (the world's webhook):"] + [
            f"  {n.get('event')}: {n.get('text')}" for n in self.notifications]


def _estimate(step: str, estimate: dict[str, int]) -> str:
    if step == "wait" and "change" in estimate:
        return f"{estimate['change']}s (execute, with change)"
    if step in estimate and step != "change":
        return f"{estimate[step]}s"
    return "-"


@contextmanager
def _world_environment(world: Any) -> Iterator[None]:
    """Point boto3 at the world (endpoint, any credentials) for this process, then restore."""
    saved = dict(os.environ)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(world.env())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _settings(world: Any, capture_dir: str, known_good: int | None = 8) -> config_mod.Settings:
    config = copy.deepcopy(config_mod.DEFAULTS)
    config["aws"].update({"profile": None, "region": world.region})
    config["api"]["url"] = world.api_url
    config["capture"]["dir"] = capture_dir
    config["wait"].update({"poll": 0.5, "poll_max": 2, "timeout": 120})
    config["ecs"]["api"]["known_good_revision"] = known_good
    return config_mod.load(config)


def _timed(report: DrillReport, name: str, body: Callable[[], Any]) -> Any:
    started = time.monotonic()
    try:
        return body()
    finally:
        report.steps.append((name, time.monotonic() - started))


def _run_option(rt: Runtime, result: triage_mod.Triage, say: Say) -> Outcome | None:
    options, recommendation = Options(yes=True, wait=True), result.recommendation
    if recommendation == Recommendation.OPTION1:
        return rollback_api(rt, RevisionRequest(), options, say)
    if recommendation == Recommendation.OPTION2:
        [pinned] = result.pinned  # the sandbox's API task definition has one container
        return rollback_image(rt, ImageRequest(pinned.image, pinned.container), options, say)
    if recommendation == Recommendation.OPTION3:
        return worker_stop(rt, options, say)
    if recommendation == Recommendation.OPTION4:
        return rollback_full(rt, RevisionRequest(), options, say)
    if recommendation == Recommendation.RESTART_WORKER:
        return worker_start(rt, StartRequest(), options, say)
    raise OperationFailed(f"triage recommends '{recommendation}': there is nothing to roll back in this scenario")


def drill(scenario: str, rollout_seconds: float = 3.0, keep: bool = False, say: Say = print,
          prepare_world: Callable[[Any], None] | None = None, known_good: int | None = 8,
          guard: bool = False) -> DrillReport:
    """Run the whole rehearsal; the report's ``verified`` says whether the rollback verified.

    ``scenario`` must be one of ``ops.sandbox.SCENARIOS`` (``inv drill`` checks its flag with ``cli.one_of``).

    Preflight first (what it would have caught), then triage and the recommended option, or with
    ``guard`` the pipeline's ``inv guard``. ``known_good`` is ``ecs.api.known_good_revision`` (None:
    auto). ``prepare_world(world)``, if given, runs once the world is up (rehearsing a variant, e.g.
    ``world.set_behaviour(...)`` to make the known-good revision bad too).
    """
    from ops.runtime import for_settings
    from ops.sandbox import World

    report = DrillReport(scenario)
    capture_dir = tempfile.mkdtemp(prefix="drill-diagnostics-")
    try:
        with World(scenario=scenario, rollout_seconds=rollout_seconds) as world, _world_environment(world):
            say(f"sandbox world up: scenario {scenario}, AWS at {world.aws_endpoint}, API at {world.api_url}")
            rt = for_settings(_settings(world, capture_dir, known_good))
            rt.identity()  # prints who and where
            if prepare_world is not None:
                prepare_world(world)
            report.preflight = _preflight(rt, say)
            (_rehearse_guard if guard else _rehearse_option)(rt, report, say)
            report.final = _final_state(world, rt)
            report.notifications = [r.json for r in world.webhook.received() if isinstance(r.json, dict)]
            if keep:
                say(f"--keep: the world stays up until Ctrl-C; diagnostics in {capture_dir}")
                _serve_until_interrupted(world, say)
    finally:
        if not keep:
            shutil.rmtree(capture_dir, ignore_errors=True)
    return report


def _preflight(rt: Runtime, say: Say) -> Preflight:
    from ops.checks import preflight

    found = preflight.run(rt)
    say(preflight.render(found))
    return found


def _rehearse_option(rt: Runtime, report: DrillReport, say: Say) -> None:
    """Triage, then the recommended option non-interactively, waited for and verified."""
    result = _timed(report, "triage", lambda: triage_mod.triage(rt, None, 300))
    say(triage_mod.render(result))
    report.recommendation = result.recommendation
    started, steps = time.monotonic(), len(report.steps)
    try:
        outcome = _run_option(rt, result, say)
        if outcome is None:  # nothing was changed: still verify
            report.verified = _timed(report, "verify", lambda: verify_now(rt, say).ok)
        else:
            report.steps += [(stage, outcome.stages.get(stage, 0.0)) for stage in ("capture", "change", "wait", "verify")]
            report.verified = bool(outcome.verified)
    except ToolkitError as failed:  # said, and the report still comes (the task exits 1); Ctrl-C ends it
        if isinstance(failed, Interrupted):
            raise
        say(f"error: {failed.render()}")
        if len(report.steps) == steps:
            report.steps.append(("rollback (not verified)", time.monotonic() - started))
        report.verified = False


def _rehearse_guard(rt: Runtime, report: DrillReport, say: Say) -> None:
    """The pipeline's step after a deploy: follow, verify, roll back by itself."""
    from ops.change.guard import guard

    report.guard = _timed(report, "guard", lambda: guard(rt, None, rollback=True, say=say))
    say(f"guard: {report.guard.summary()}")
    report.verified = report.guard.outcome in ("healthy", "rolled-back")


def _final_state(world: Any, rt: Runtime) -> list[str]:
    from ops.aws.ecs import describe_services
    from ops.checks.wait import progress_line

    names = [s.service for s in rt.settings.services]
    services = describe_services(rt.ecs, rt.settings.cluster, names)
    return [progress_line(services[n]) for n in names] + [
        "API /healthz: " + ("healthy" if world.api_healthy() else "unhealthy")
    ]


def _serve_until_interrupted(world: Any, say: Say) -> None:
    say(f"AWS_ENDPOINT_URL={world.aws_endpoint}")
    say(f"api.url={world.api_url}")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        say("stopping the world")
