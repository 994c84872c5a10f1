"""The Rollback Decision Tree (`inv triage`) branch by branch, and every runbook scenario end to end
through `inv drill`.

Triage runs as a subprocess (`inv triage`) against a sandbox World started in this process; the
drill runs as a subprocess that starts its own World. Everything talks HTTP to 127.0.0.1 only.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from ops.drill import drill
from ops.sandbox.scenarios import API_FAMILY, API_SERVICE, REPOSITORY, WORKER_SERVICE
from tests.helpers import InvResult, base_env, run_inv, world_env

ALLOWED = {"none", "option1", "option2", "option3", "option4", "restart-worker"}
ROLLOUT = 1.0


# ------------------------------------------------------------------ helpers


def control_state(world: Any) -> dict[str, Any]:
    """What only a change through the AWS API can move: task definition, desired counts, deployments.

    (Running/failed counts and events move on their own in a crash-looping world.)
    """
    state = {}
    for name in (API_SERVICE, WORKER_SERVICE):
        snap = world.service_state(name)
        state[name] = {
            "taskDefinition": snap["taskDefinition"],
            "desired": snap["desired"],
            "deployments": [(d["id"], d["taskDefinition"], d["desired"]) for d in snap["deployments"]],
        }
    return state


def triage_json(world: Any, tmp_path: Path, *extra: str) -> dict[str, Any]:
    """Run `inv triage --json [extra]`; check exit 0, contract shape, stdout only JSON, nothing changed."""
    assert world.settle(15), "the world did not settle before triage"
    tmp_path.mkdir(parents=True, exist_ok=True)
    before = control_state(world)
    result = run_inv(["triage", "--json", *extra], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    document = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert result.stdout.lstrip().startswith("{") and result.stdout.rstrip().endswith("}")
    assert document["recommendation"] in ALLOWED
    assert isinstance(document["reasons"], list) and document["reasons"]
    assert all(isinstance(reason, str) and reason for reason in document["reasons"])
    assert isinstance(document["signals"], dict) and document["signals"]
    # triage never changes anything: no AWS change, no capture, no audit line
    assert control_state(world) == before
    assert not (tmp_path / "diagnostics").exists()
    return document


def reasons_text(document: dict[str, Any]) -> str:
    return "\n".join(document["reasons"]).lower()


def assert_usage_error(result: InvResult, *needles: str) -> None:
    """Exit 2, a plain message on stderr (no traceback), nothing on stdout."""
    assert result.code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stdout.strip() == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0]


# ------------------------------------------------------------------ triage: one test per branch


@pytest.mark.parametrize(
    ("scenario", "recommendation", "reason_words", "absent", "signals", "command"),
    [
        ("api-bad-release", "option1", ["healthz", "api", "option 1"], ["worker failing"],
         {("healthz", "healthy"): False, ("api", "taskDefinition"): f"{API_FAMILY}:9"}, "inv rollback.api --revision 8"),
        ("worker-failing", "option3", ["worker failing", "option 3"], [],
         {("healthz", "healthy"): True}, "inv worker.stop"),
        ("both-failing", "option4", ["api failing", "worker failing", "option 4"], [], {},
         "inv rollback.full --revision 8"),
        ("worker-stopped", "restart-worker", ["stopped"], [], {("worker", "desired"): 0}, "inv worker.start"),
    ],
)
def test_triage_branch_from_live_signals(world_factory: Any, tmp_path: Path, scenario: str, recommendation: str,
                                         reason_words: list[str], absent: list[str],
                                         signals: dict[tuple[str, str], Any], command: str) -> None:
    world = world_factory(scenario, rollout_seconds=ROLLOUT)
    document = triage_json(world, tmp_path)
    assert document["recommendation"] == recommendation
    text = reasons_text(document)
    assert all(word in text for word in reason_words) and not any(word in text for word in absent), text
    for (group, key), expected in signals.items():
        assert document["signals"][group][key] == expected
    if scenario == "worker-failing":
        assert document["signals"]["worker"]["failedTasks"] > 0
    assert document["command"] == command


def test_triage_healthy_world_recommends_none(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("worker-stopped", rollout_seconds=ROLLOUT)
    started = run_inv(["worker.start", "--yes"], world_env(world, tmp_path / "start"), tmp_path)
    assert started.code == 0, started.stderr
    assert world.service_state(WORKER_SERVICE)["running"] >= 1
    document = triage_json(world, tmp_path / "triage")
    assert document["recommendation"] == "none"
    assert document["command"] == "inv verify"
    assert document["signals"]["healthz"]["healthy"] is True


def test_triage_latest_tag_moved_recommends_option2_by_digest(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("latest-tag-moved", rollout_seconds=ROLLOUT)
    document = triage_json(world, tmp_path)
    assert document["recommendation"] == "option2"
    repository = f"{world.account_id}.dkr.ecr.{world.region}.amazonaws.com/{REPOSITORY}"
    assert document["command"] == f"inv rollback.image --image {repository}@{world.digest_of(8)}"
    assert world.digest_of(8) != world.digest_of(9)
    assert "moved tag" in reasons_text(document)


def test_triage_after_rollback_never_points_at_the_bad_digest(world_factory: Any, tmp_path: Path) -> None:
    """Regression: once on the known-good revision, triage took the capture's digest (the bad
    release's) for a "moved tag" and told the operator to redeploy it by digest."""
    world = world_factory("api-bad-release", rollout_seconds=ROLLOUT)
    rolled = run_inv(["rollback.api", "--yes"], world_env(world, tmp_path / "rollback"), tmp_path)
    assert rolled.code == 0, rolled.stderr
    assert world.api_healthy()
    # same capture dir: the rollback's capture (:9's digest in it) is where "what ran before" is looked up
    assert world.settle(15)
    before = control_state(world)
    result = run_inv(["triage", "--json"], world_env(world, tmp_path / "rollback"), tmp_path)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    assert control_state(world) == before
    assert document["signals"]["api"]["taskDefinition"] == f"{API_FAMILY}:8"
    assert document["recommendation"] != "option2"
    assert world.digest_of(9) not in document["command"]
    assert "rollback.image" not in document["command"]
    # the replaced :9 tasks' error lines no longer count against the service: nothing to do
    assert document["signals"]["api"]["logErrors"] == 0
    assert document["recommendation"] == "none" and document["command"] == "inv verify"


@pytest.mark.parametrize(
    ("symptom", "runbook_reason"),
    [
        ("rate-limiting", "rate limiter changes are in the api code"),
        ("cors", "cors config is in the api code"),
        ("metrics-slow", "metrics caching is in the api code"),
    ],
)
def test_triage_api_code_symptoms_recommend_option1(world_factory: Any, tmp_path: Path, symptom: str,
                                                    runbook_reason: str) -> None:
    # worker-stopped: the signals alone would say restart-worker; the symptom says Option 1
    world = world_factory("worker-stopped", rollout_seconds=ROLLOUT)
    document = triage_json(world, tmp_path, "--symptom", symptom)
    assert document["recommendation"] == "option1"
    text = reasons_text(document)
    assert runbook_reason in text and symptom in text and "option 1" in text
    assert document["command"] == "inv rollback.api --revision 8"


@pytest.mark.parametrize(
    ("scenario", "expected", "needle"),
    [
        ("worker-stopped", "restart-worker", "stopped"),
        ("worker-failing", "option3", "worker failing"),
        # the API is broken here, but the symptom asks about jobs, and the worker is fine
        ("api-bad-release", "none", "worker runs"),
    ],
)
def test_triage_jobs_not_running(world_factory: Any, tmp_path: Path, scenario: str, expected: str,
                                 needle: str) -> None:
    world = world_factory(scenario, rollout_seconds=ROLLOUT)
    document = triage_json(world, tmp_path, "--symptom", "jobs-not-running")
    assert document["recommendation"] == expected
    text = reasons_text(document)
    assert "jobs-not-running" in text and needle in text


def test_triage_unknown_symptom_is_a_usage_error(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("api-bad-release", rollout_seconds=ROLLOUT)
    assert world.settle(15)
    before = control_state(world)
    result = run_inv(["triage", "--json", "--symptom", "slow-coffee"], world_env(world, tmp_path), tmp_path)
    assert_usage_error(result, "--symptom", "slow-coffee", "not known")
    assert "rate-limiting" in result.stderr  # the hint lists the known symptoms
    assert control_state(world) == before


def test_triage_human_output(world_factory: Any, tmp_path: Path) -> None:
    world = world_factory("api-bad-release", rollout_seconds=ROLLOUT)
    assert world.settle(15)
    before = control_state(world)
    result = run_inv(["triage"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.match(r"signal\s+state\s+detail", lines[0])
    rows = {re.split(r"\s{2,}", line)[0]: re.split(r"\s{2,}", line)[1] for line in lines[2:6]}
    assert rows == {"healthz": "UNHEALTHY", "metrics": "ok", "api service": "failing", "worker service": "ok"}
    assert "recommendation: option1" in lines
    reason_lines = [line for line in lines if line.startswith("  - ")]
    assert any("/healthz" in line for line in reason_lines)
    assert lines[-1] == "next: inv rollback.api --revision 8"
    with pytest.raises(ValueError):
        json.loads(result.stdout)
    assert control_state(world) == before


# ------------------------------------------------------------------ drill: every scenario, end to end


def report_rows(stdout: str) -> tuple[str, dict[str, tuple[str, str]], list[str]]:
    """The drill report's title line, its table (step -> measured, estimate), and the lines after it."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("drill report:"))
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[start + 3:]:
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) != 3:
            break
        rows[parts[0]] = (parts[1], parts[2])
    return lines[start], rows, lines[start:]


DRILLS = [
    # scenario, recommendation, title, (wait estimate, verify estimate, total estimate), final-state lines
    ("api-bad-release", "option1", "Option 1: API only", ("120s", "180s", "300s"),
     ["primary sandbox-broker:8 COMPLETED", "API /healthz: healthy"]),
    ("worker-failing", "option3", "Option 3: Stop worker", ("30s", "60s", "120s"),
     ["sandbox-broker-worker: running 0/0", "primary sandbox-broker:9 COMPLETED", "API /healthz: healthy"]),
    ("both-failing", "option4", "Option 4: Full rollback", ("180s", "300s", "480s"),
     ["sandbox-broker-worker: running 0/0", "primary sandbox-broker:8 COMPLETED", "API /healthz: healthy"]),
    ("worker-stopped", "restart-worker", "Restart worker", None,
     ["sandbox-broker-worker: running 1/1", "API /healthz: healthy"]),
    ("latest-tag-moved", "option2", "Option 2: Specific image", ("120s", "180s", "300s"),
     ["API /healthz: healthy"]),
]


@pytest.mark.parametrize(("scenario", "recommendation", "title", "estimates", "final"), DRILLS,
                         ids=[d[0] for d in DRILLS])
def test_drill_scenario_end_to_end(tmp_path: Path, scenario: str, recommendation: str, title: str,
                                   estimates: tuple[str, str, str] | None, final: list[str]) -> None:
    result = run_inv(["drill", "--scenario", scenario, "--rollout-seconds", "1"], base_env(tmp_path), tmp_path)
    assert result.code == 0, result.stdout[-3000:] + result.stderr
    assert "Traceback" not in result.stderr
    heading, rows, report = report_rows(result.stdout)
    assert heading.startswith(f"drill report: scenario {scenario}, recommendation {recommendation} ({title}")
    assert report[-1] == "VERIFIED: the rollback worked"
    assert list(rows) == ["triage", "capture", "change", "wait", "verify", "total"]
    measured = {step: float(value.rstrip("s")) for step, (value, _) in rows.items()}
    assert measured["total"] == pytest.approx(sum(v for k, v in measured.items() if k != "total"), abs=0.35)
    if estimates is None:  # not in the runbook's table: no estimate is made up
        assert {estimate for _, estimate in rows.values()} == {"-"}
    else:
        wait, verify, total = estimates
        assert rows["wait"][1] == f"{wait} (execute, with change)"
        assert rows["verify"][1] == verify
        assert rows["total"][1] == total
        assert rows["triage"][1] == "-"
    final_state = "\n".join(report)
    for line in final:
        assert line in final_state
    if scenario == "latest-tag-moved":  # by digest: a new revision, neither the bad :9 nor the moved-tag :8
        primary = re.search(r"sandbox-broker: .* primary (sandbox-broker:\d+)", final_state)
        assert primary and primary.group(1) not in ("sandbox-broker:8", "sandbox-broker:9")


def test_drill_unknown_scenario_is_a_usage_error(tmp_path: Path) -> None:
    result = run_inv(["drill", "--scenario", "nope"], base_env(tmp_path), tmp_path)
    assert_usage_error(result, "--scenario", "nope", "not known")
    assert "api-bad-release" in result.stderr  # the hint lists the scenarios


def test_drill_reports_not_verified_when_the_rollback_does_not_work() -> None:
    """A rollback that lands but does not verify: the known-good :8 is bad too.

    The drill's World lives inside ``drill()``, so this runs in-process and uses the drill's
    ``prepare_world`` hook; `inv drill` turns ``verified=False`` into exit 1.
    """
    said: list[str] = []
    report = drill("api-bad-release", rollout_seconds=ROLLOUT, say=said.append,
                   prepare_world=lambda world: world.set_behaviour(API_FAMILY, 8, "errors"))
    assert report.recommendation == "option1"
    assert report.verified is False
    rendered = report.render()
    assert rendered.splitlines()[-1] == "NOT VERIFIED"
    assert "VERIFIED: the rollback worked" not in rendered
    # the rollback itself happened (that is what failed to verify), and the report says so
    assert any("primary sandbox-broker:8" in line for line in report.final)
    assert "API /healthz: unhealthy" in report.final
    assert any(line.startswith("error: verification failed") and "healthz" in line for line in said)
    assert report.steps and report.steps[0][0] == "triage"
