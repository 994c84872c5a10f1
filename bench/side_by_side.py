"""Section 1: the runbook's own commands (AWS CLI v1) against the toolkit's tasks, same World."""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bench.common import (
    API,
    INV,
    RATIO_HEADERS,
    ROOT,
    WORKER,
    Measured,
    Seen,
    WorldRequests,
    aws_argv,
    cli_env,
    inv_env,
    med,
    ratios,
    run_measured,
    section,
    table,
)
from ops.sandbox import runbook

STEADY_POLL = 0.05
OPTION4_DEADLINE = 180.0


@dataclass
class Timings:
    runbook: list[float] = field(default_factory=list)
    toolkit: list[float] = field(default_factory=list)


def _checklist(env: dict[str, str], out: Path) -> float:
    """The Pre-Rollback Checklist's four commands, one after another, into files (like ``> /tmp/...``)."""
    start_ms = int((time.time() - 600) * 1000)
    commands = {
        "api-taskdef-before-rollback.json": runbook.CHECKLIST_TASKDEF,
        "services-before-rollback.json": runbook.CHECKLIST_SERVICES,
        "api-logs-before-rollback.txt": runbook.CHECKLIST_LOGS.format(group="/ecs/sandbox-broker-api", start_ms=start_ms),
        "worker-logs-before-rollback.txt": runbook.CHECKLIST_LOGS.format(group="/ecs/sandbox-broker-worker", start_ms=start_ms),
    }
    out.mkdir(parents=True, exist_ok=True)
    total = 0.0
    for name, command in commands.items():
        result = run_measured(aws_argv(command), env, stdout=out / name)
        assert result.code == 0, command
        total += result.seconds
    return total


def _inv(args: list[str], env: dict[str, str]) -> Measured:
    result = run_measured([INV, "-r", str(ROOT), *args], env)
    assert result.code == 0, f"inv {' '.join(args)} exited {result.code}"
    return result


def read_only(reps: int, rollout_seconds: float) -> None:
    """Checklist vs ``inv capture`` and Quick Status Check vs ``inv status``: one World, alternating."""
    from ops.sandbox import World

    checklist, status = Timings(), Timings()
    phases: dict[str, list[Phases]] = {"runbook": [], "toolkit": []}
    seen = WorldRequests()
    with seen.installed(), World("api-bad-release", rollout_seconds=rollout_seconds) as world, \
            tempfile.TemporaryDirectory(prefix="bench-ro-") as tmp:
        home = Path(tmp)
        cli, inv = cli_env(world, home / "cli"), inv_env(world, home / "inv")
        _checklist(cli, home / "checklist-warm-up")  # one round, not counted: a first run writes the bytecode
        _inv(["capture"], inv)  # cache of a checkout (the CLI's was written when pip installed it)
        run_measured(aws_argv(runbook.QUICK_STATUS), cli)
        _inv(["status"], inv)
        for rep in range(reps):
            checklist.runbook.append(_checklist(cli, home / f"checklist-{rep}"))
            checklist.toolkit.append(_inv(["capture"], inv).seconds)
            seen.take()
            started = time.perf_counter()
            status.runbook.append(run_measured(aws_argv(runbook.QUICK_STATUS), cli).seconds)
            phases["runbook"].append(Phases.of(started, time.perf_counter(), seen.take()))
            started = time.perf_counter()
            status.toolkit.append(_inv(["status"], inv).seconds)
            phases["toolkit"].append(Phases.of(started, time.perf_counter(), seen.take()))
    section(f"1a. read-only tasks, runbook commands (AWS CLI v1, --profile okta-sso) vs inv; median of {reps}, alternating")
    print("note: `aws logs tail` is CLI v2 only; `aws logs filter-log-events --log-group-name G --start-time MS` stands in for it")
    print("note: one warm-up round first, not counted; children run without PYTHONDONTWRITEBYTECODE, as on a "
          "user's machine")
    print("note: the checklist is 4 `aws` processes run one after another (copy-paste); `inv capture` also saves "
          "running tasks + digests, a manifest, and reads both log groups at once")
    rows = [
        ["Pre-Rollback Checklist (4 cmds)", "inv capture", *_cells(checklist)],
        ["Quick Status Check one-liner", "inv status", *_cells(status)],
    ]
    print(table(["runbook", "toolkit", "runbook s", "toolkit s", *RATIO_HEADERS, "runbook range s",
                 "toolkit range s"], rows))
    print("\nwhere a status process's time goes (requests as the World's HTTP layer saw them; 'before the first' "
          "includes ~0.02 s of the bench's launcher): start-up + botocore clients, then the calls, then output + exit")
    print(table(["process", "requests", "before the first s", "first to last s", "after the last s", "wall s"],
                [[label, f"{med(p.requests for p in phases[key]):.0f}", f"{med(p.before for p in phases[key]):.2f}",
                  f"{med(p.span for p in phases[key]):.2f}", f"{med(p.after for p in phases[key]):.2f}",
                  f"{med(p.before + p.span + p.after for p in phases[key]):.2f}"]
                 for key, label in (("runbook", "aws ecs describe-services ... --output table"),
                                    ("toolkit", "inv status"))]))


@dataclass(frozen=True)
class Phases:
    """One process's wall time split at its first and last AWS request."""

    requests: int
    before: float
    span: float
    after: float

    @classmethod
    def of(cls, started: float, ended: float, seen: list[Seen]) -> "Phases":
        if not seen:
            return cls(0, ended - started, 0.0, 0.0)
        first, last = seen[0].at, seen[-1].at
        return cls(len(seen), first - started, last - first, ended - last)


def _cells(t: Timings) -> list[str]:
    r, k = med(t.runbook), med(t.toolkit)
    return [f"{r:.2f}", f"{k:.2f}", *ratios(k, r), f"{min(t.runbook):.2f}-{max(t.runbook):.2f}",
            f"{min(t.toolkit):.2f}-{max(t.toolkit):.2f}"]


# ------------------------------------------------------------------ Option 4


class SteadyWatch:
    """Watches the World in-process; remembers when Option 4's end state was first reached."""

    def __init__(self, world: Any) -> None:
        self.world = world
        self.at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady-watch", daemon=True)

    def __enter__(self) -> "SteadyWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(STEADY_POLL):
            if self.at is None and option4_steady(self.world.service_state(API), self.world.service_state(WORKER)):
                self.at = time.perf_counter()


def option4_steady(api: dict[str, Any], worker: dict[str, Any]) -> bool:
    """API: one COMPLETED deployment of :8 with running = desired > 0; worker: 0 desired, 0 running, 0 pending."""
    deployments = api["deployments"]
    api_ok = (len(deployments) == 1 and deployments[0]["taskDefinition"].endswith("task-definition/sandbox-broker:8")
              and deployments[0]["rolloutState"] == "COMPLETED" and api["running"] == api["desired"] > 0
              and api["pending"] == 0)
    return api_ok and worker["desired"] == 0 and worker["running"] == 0 and worker["pending"] == 0


def _cli_json(env: dict[str, str], command: str) -> Any:
    proc = subprocess.run(aws_argv(command), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def _post_rollback_http(world: Any) -> bool:
    """The runbook's curl checks (healthz, allocate, metrics), done with requests."""
    if requests.get(f"{world.api_url}/healthz", timeout=5).json().get("status") != "healthy":
        return False
    allocate = requests.post(f"{world.api_url}/v1/allocate", timeout=5, headers={
        "Authorization": f"Bearer {world.token}", "X-Instruqt-Sandbox-ID": f"rollback-test-{uuid.uuid4().hex[:8]}",
        "Content-Type": "application/json"})
    metrics = requests.get(f"{world.api_url}/metrics", timeout=5)
    return allocate.ok and metrics.ok and "pool_total" in metrics.text


def runbook_option4(world: Any, home: Path, poll: float) -> tuple[float, float | None]:
    """Checklist, then Option 4 as written (Option 3's worker stop, then Option 1's update), then poll the
    monitor command (every ``poll`` s, like ``watch``) until it shows the target, then the Post-Rollback
    Verification. Returns (seconds when verified, seconds when the monitor first showed the target).

    No autoscaling step: the scenario (both-failing) has no scale-out alarm, so Option 3 as written holds
    (``worker-autoscaled`` is the World's scenario where it does not)."""
    env = cli_env(world, home)
    started = time.perf_counter()
    _checklist(env, home / "checklist")
    for command in (runbook.OPTION3_STOP, runbook.OPTION1_UPDATE):
        _cli_json(env, command)
    monitor_done: float | None = None
    while time.perf_counter() - started < OPTION4_DEADLINE:
        if _cli_json(env, runbook.OPTION4_MONITOR) == runbook.OPTION4_TARGET:
            monitor_done = monitor_done or time.perf_counter() - started
            if runbook.one_primary_settled(_cli_json(env, runbook.VERIFY_DEPLOYMENTS)) and _post_rollback_http(world):
                return time.perf_counter() - started, monitor_done
        time.sleep(poll)
    raise RuntimeError("runbook Option 4 did not verify before the deadline")


def toolkit_option4(world: Any, home: Path, fast_poll: bool) -> None:
    result = run_measured([INV, "-r", str(ROOT), "rollback.full", "--yes"], inv_env(world, home, fast_poll))
    assert result.code == 0, f"inv rollback.full exited {result.code}"


@dataclass(frozen=True)
class Polling:
    """DescribeServices during the wait, as the World's HTTP layer saw them: from the first UpdateService
    (the rollback's first change) to the last DescribeServices (the verification)."""

    requests: int
    seconds: float
    busiest_second: int  # most DescribeServices in any 1 s window
    longest_gap: float  # longest interval between two DescribeServices

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else float("nan")

    @classmethod
    def of(cls, seen: list[Seen]) -> "Polling":
        first_change = next((s.at for s in seen if s.action == "UpdateService"), None)
        assert first_change is not None, "no UpdateService reached the World"
        stamps = [s.at for s in seen if s.action == "DescribeServices" and s.at >= first_change]
        if not stamps:
            return cls(0, 0.0, 0, 0.0)
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        busiest = max(sum(1 for t in stamps if a <= t < a + 1.0) for a in stamps)
        return cls(len(stamps), stamps[-1] - first_change, busiest, max(gaps, default=0.0))


@dataclass
class Option4Run:
    total: float
    past_steady: float
    polling: Polling
    monitor_vs_steady: float | None = None


def _one_option4(variant: str, rollout_seconds: float, poll: float) -> Option4Run:
    from ops.sandbox import World

    seen = WorldRequests()
    with seen.installed(), World("both-failing", rollout_seconds=rollout_seconds) as world, \
            tempfile.TemporaryDirectory(prefix="bench-o4-") as tmp, SteadyWatch(world) as watch:
        started = time.perf_counter()
        monitor: float | None = None
        if variant == "runbook":
            total, monitor = runbook_option4(world, Path(tmp), poll)
        else:  # timed from the same start as the runbook and the steady mark, launcher included
            toolkit_option4(world, Path(tmp), fast_poll=variant == "toolkit-fast-poll")
            total = time.perf_counter() - started
        assert watch.at is not None, f"{variant}: the world never reached Option 4's steady state"
        steady = watch.at - started
        return Option4Run(total, total - steady, Polling.of(seen.take()),
                          None if monitor is None else monitor - steady)


def _default_poll() -> str:
    """The toolkit's wait.poll -> wait.poll_max as configured (ops.config's defaults, then invoke.yaml)."""
    import yaml

    from ops.config import DEFAULTS

    wait = {**DEFAULTS["wait"], **(yaml.safe_load((ROOT / "invoke.yaml").read_text()).get("wait") or {})}
    return f"{wait['poll']:g}->{wait['poll_max']:g} s"


def option4_variants() -> dict[str, str]:
    return {
        "runbook": "runbook cmds + checklist + poll + post-checks",
        "toolkit": f"inv rollback.full --yes (DEFAULT wait.poll {_default_poll()})",
        "toolkit-fast-poll": "inv rollback.full --yes (INVOKE_WAIT_POLL 0.3->1 s)",
    }


def option4(reps: int, rollout_seconds: float, poll: float, variants: list[str]) -> None:
    """Option 4 end to end, a fresh World per run, variants alternating."""
    labels = option4_variants()
    runs: dict[str, list[Option4Run]] = {v: [] for v in variants}
    for _ in range(reps):
        for variant in variants:
            runs[variant].append(_one_option4(variant, rollout_seconds, poll))
    section(f"1b. Option 4 (full rollback), scenario both-failing, rollout_seconds={rollout_seconds}; "
            f"fresh World per run, median of {reps}")
    print(f"note: the runbook's `watch -n 5` is polled every {poll:g} s here (faster than written); "
          "the runbook run includes the Pre-Rollback Checklist and the Post-Rollback Verification (curl via requests); "
          "Option 3 as written (no autoscaling step: this scenario has no scale-out alarm)")
    print("note: 'past steady' = seconds between the world reaching the end state (observed in-process) and the "
          "run ending; the toolkit also waits for the worker to reach 0 before touching the API (contract)")
    print("note: DescribeServices counted at the World's HTTP layer from the first UpdateService to the last "
          "DescribeServices; 'req/s' = their mean rate there (ECS's shared DescribeServices rate: about 20 req/s "
          "per account and Region), 'busiest 1 s' = most in any 1 s, 'longest gap' = longest poll interval")
    base = med(r.total for r in runs[variants[0]])
    rows = []
    for variant in variants:
        items = runs[variant]
        total = med(r.total for r in items)
        monitor = [r.monitor_vs_steady for r in items if r.monitor_vs_steady is not None]
        rows.append([labels[variant], f"{total:.2f}", f"{med(r.past_steady for r in items):.2f}",
                     " ".join(f"{r.past_steady:.2f}" for r in items),
                     f"{med(monitor):+.2f}" if monitor else "-",
                     f"{med(r.polling.requests for r in items):.0f}", f"{med(r.polling.rate for r in items):.2f}",
                     str(max(r.polling.busiest_second for r in items)),
                     f"{max(r.polling.longest_gap for r in items):.2f}",
                     *(ratios(total, base) if variant != "runbook" else ["-", "-"])])
    print(table(["procedure", "to verified s", "past steady s (median)", "past steady s (each run)",
                 "monitor said done (vs steady) s", "DescribeServices", "req/s", "busiest 1 s", "longest gap s",
                 *RATIO_HEADERS], rows))
