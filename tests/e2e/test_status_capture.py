"""`inv status` and `inv capture` against a real moto server over HTTP."""
from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import stat
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.ecs.models import ecs_backends

from ops.aws.logs import Pace, Window, format_event, iter_events, write_window
from ops.checks import triage
from ops.checks.capture import run_capture
from ops.checks.wait import Goal, wait_for
from ops.errors import CaptureFailed, WaitFailed
from ops.http import make_session
from ops.redact import REDACTED
from ops.runtime import runtime
from tests.helpers import API, API_LOGS, CLUSTER, REGION, WORKER, WORKER_LOGS, config_with, run_inv, spawn_inv

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ .*$")


def _backend() -> Any:
    return ecs_backends["123456789012"][REGION]


def test_status_json_is_the_contract_shape(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    result = run_inv(["status", "--json"], moto_env, tmp_path)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)  # stdout holds the JSON document and nothing else
    assert [s["name"] for s in document["services"]] == [API, WORKER]
    api = document["services"][0]
    assert set(api) == {"name", "status", "desired", "running", "pending", "taskDefinition", "rolloutState", "deployments"}
    assert api["taskDefinition"] == "sandbox-broker:9" and api["desired"] == 2
    contract_keys = {"id", "status", "taskDefinition", "desired", "running", "pending", "failed", "rolloutState"}
    assert contract_keys <= set(api["deployments"][0])  # additions (image digests) are allowed
    assert api["deployments"][0]["status"] == "PRIMARY"
    assert "AWS account 123456789012" in result.stderr  # the caller is checked and shown first


def test_status_table_deployments_and_events(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    service = _backend().services[f"{CLUSTER}:{API}"]
    old = copy.deepcopy(service.deployments[0])
    old.update({"status": "ACTIVE", "id": "ecs-svc/111", "taskDefinition": old["taskDefinition"].replace(":9", ":8")})
    service.deployments.append(old)
    service.events = [
        {"id": str(i), "createdAt": datetime.now(timezone.utc), "message": f"(service {API}) event number {i}"}
        for i in range(8)
    ]
    result = run_inv(["status", "--events", "3"], moto_env, tmp_path)
    assert result.code == 0, result.stderr
    assert re.search(r"sandbox-broker\s+ACTIVE\s+\d+/2/\d+\s+sandbox-broker:9\s+\S+\s+2", result.stdout)
    assert "sandbox-broker: 2 deployments" in result.stdout
    assert re.search(r"ACTIVE\s+ecs-svc/111\s+sandbox-broker:8", result.stdout)
    assert "event number 2" in result.stdout and "event number 3" not in result.stdout


def _put_events(logs: Any, group: str, stream: str, offsets_s: list[float], now_ms: int) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    events = [{"timestamp": now_ms - int(o * 1000), "message": f"{stream} event at -{o}s"} for o in sorted(offsets_s, reverse=True)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def test_capture_end_to_end(seeded: dict[str, Any], moto_env: dict[str, str], tmp_path: Path) -> None:
    logs, now_ms = seeded["logs"], int(time.time() * 1000)
    _put_events(logs, API_LOGS, "ecs/api/aaa", [1200, 300, 60, 5], now_ms)  # 1200 s is outside 10m
    _put_events(logs, API_LOGS, "ecs/api/bbb", [900, 200, 30], now_ms)  # 900 s is outside 10m
    _put_events(logs, WORKER_LOGS, "ecs/worker/ccc", [120, 10], now_ms)
    result = run_inv(["capture", "--since", "10m", "--out", "diag"], moto_env, tmp_path)
    assert result.code == 0, result.stderr
    folder = Path(result.stdout.strip().splitlines()[-1].split()[-1])
    assert folder.parent == (tmp_path / "diag").resolve()
    assert re.fullmatch(r"\d{8}T\d{6}Z", folder.name)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([
        "api-taskdef-before-rollback.json", "services-before-rollback.json", "api-logs-before-rollback.txt",
        "worker-logs-before-rollback.txt", "tasks-before-rollback.json", "manifest.json",
    ])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in folder.iterdir())
    api_lines = (folder / "api-logs-before-rollback.txt").read_text().splitlines()
    assert len(api_lines) == 5 and all(LINE.match(line) for line in api_lines)
    assert api_lines == sorted(api_lines)  # time order across streams
    assert "ecs/api/aaa event at -300s" in api_lines[0] and "ecs/api/bbb event at -200s" in api_lines[1]
    assert "-1200s" not in "".join(api_lines) and "-900s" not in "".join(api_lines)
    taskdef = json.loads((folder / "api-taskdef-before-rollback.json").read_text())
    env = {e["name"]: e["value"] for e in taskdef["taskDefinition"]["containerDefinitions"][0]["environment"]}
    assert env == {"LOG_LEVEL": "info", "DATABASE_PASSWORD": REDACTED, "API_TOKEN_SECRET": REDACTED,
                   "DATABASE_URL": f"postgres://app:{REDACTED}@db:5432/app"}
    assert not any(b"hunter2-db" in p.read_bytes() or b"pg-pass-123" in p.read_bytes() for p in folder.iterdir())
    services = json.loads((folder / "services-before-rollback.json").read_text())
    assert [s["serviceName"] for s in services["services"]] == [API, WORKER]
    manifest = json.loads((folder / "manifest.json").read_text())
    by_name = {f["name"]: f for f in manifest["files"]}
    assert by_name["api-logs-before-rollback.txt"]["events"] == 5
    assert by_name["worker-logs-before-rollback.txt"]["events"] == 2
    for name, entry in by_name.items():
        data = (folder / name).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["window"]["since"] == "10m" and manifest["errors"] == []
    assert manifest["window"]["endMs"] - manifest["window"]["startMs"] == 600_000
    assert not [p for p in (tmp_path / "diag").iterdir() if p.name.startswith(".")]  # no partial left


@pytest.fixture
def rt(seeded: Any, moto_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in moto_env.items():
        monkeypatch.setenv(key, value)
    return runtime(config_with(aws__profile=""))


def test_log_reader_pages_and_window(rt: Any, seeded: dict[str, Any]) -> None:
    logs, now_ms = seeded["logs"], int(time.time() * 1000)
    _put_events(logs, API_LOGS, "s1", [float(i) for i in range(1, 60)], now_ms)
    _put_events(logs, API_LOGS, "s2", [float(i) + 0.5 for i in range(1, 60)] + [4000.0], now_ms)
    calls: list[str] = []
    hook = lambda **_: calls.append("call")  # noqa: E731
    rt.logs.meta.events.register("before-call.logs.FilterLogEvents", hook)
    try:
        events = list(iter_events(rt.logs, API_LOGS, Window.last(600, now=now_ms / 1000), Pace(rate=1000),
                                  page_size=25))
    finally:
        rt.logs.meta.events.unregister("before-call.logs.FilterLogEvents", hook)
    assert len(events) == 118  # the event 4000 s old is outside the window
    assert len(calls) >= 5  # 118 events at 25 a page: several pages were read


def _over_quota(times: list[float], rate: float = 5.0, slack: float = 0.5) -> list[int]:
    """The requests (by index) a bucket of ``rate`` tokens, refilled at ``rate`` a second, could not have
    let through (``slack``: part of a token, for the moments between the pace's turn and the send)."""
    tokens, last, over = rate, times[0] if times else 0.0, []
    for index, at in enumerate(times):
        tokens = min(rate, tokens + (at - last) * rate)
        last = at
        if tokens < 1 - slack:
            over.append(index)
        tokens -= 1
    return over


def test_every_log_read_of_a_run_shares_filter_log_events_quota(seeded: dict[str, Any], moto_env: dict[str, str],
                                                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """FilterLogEvents is 5 requests a second per account and Region: a paged read, triage's error counts
    and capture's readers all take turns from the run's one bucket (times seen by botocore's before-send)."""
    for key, value in moto_env.items():
        monkeypatch.setenv(key, value)
    rt = runtime(config_with(aws__profile="", api__url="http://127.0.0.1:9"))  # nothing listens: health fails fast
    logs, now_ms = seeded["logs"], int(time.time() * 1000)
    _put_events(logs, API_LOGS, "ecs/api/aaa", [float(i) for i in range(1, 41)], now_ms)
    _put_events(logs, WORKER_LOGS, "ecs/worker/bbb", [5.0, 4.0], now_ms)
    sent: list[float] = []
    hook = lambda **_: sent.append(time.monotonic())  # noqa: E731
    rt.logs.meta.events.register("before-send.logs.FilterLogEvents", hook)
    try:
        window = Window.last(600, now=now_ms / 1000)
        assert len(list(iter_events(rt.logs, API_LOGS, window, rt.log_pace, page_size=5))) == 40  # 8+ requests
        paged = len(sent)
        for _ in range(3):
            signals, _services = triage.gather(rt, 600, make_session(connect_retries=0))
            assert signals.api.log_errors == 0 and signals.worker.log_errors == 0
        run_capture(rt, "10m", 600, out=tmp_path / "diag", progress=lambda _: None)
    finally:
        rt.logs.meta.events.unregister("before-send.logs.FilterLogEvents", hook)
    assert paged >= 8 and len(sent) == paged + 3 * 2 + 2  # triage: one page a group; capture: one a group
    assert _over_quota(sent) == [], [round(t - sent[0], 3) for t in sent]
    assert _over_quota([0.0] * 6) == [5]  # the check itself: a sixth request at once is over


def test_a_window_of_many_pages_is_read_in_slices_in_order_exactly_once(rt: Any, seeded: dict[str, Any],
                                                                        tmp_path: Path) -> None:
    """More than a page: the rest of the window in time slices side by side, joined in time order; events
    sharing the millisecond a page ends on are neither lost nor doubled."""
    logs, now_ms = seeded["logs"], int(time.time() * 1000)
    ages = [300.0 - i * 0.25 for i in range(400)] + [150.0] * 30  # 30 events in one millisecond
    _put_events(logs, API_LOGS, "s1", ages, now_ms)
    _put_events(logs, API_LOGS, "s2", [a + 0.1 for a in ages[::7]], now_ms)
    calls: list[str] = []
    hook = lambda **_: calls.append("call")  # noqa: E731
    rt.logs.meta.events.register("before-call.logs.FilterLogEvents", hook)
    try:
        stats = write_window(rt.logs, API_LOGS, Window.last(600, now=now_ms / 1000), tmp_path / "api.txt",
                             Pace(rate=1000), slices=4, page_size=50)
    finally:
        rt.logs.meta.events.unregister("before-call.logs.FilterLogEvents", hook)
    lines = (tmp_path / "api.txt").read_text().splitlines()
    assert stats.events == len(lines) == len(ages) + len(ages[::7])
    assert lines == sorted(lines, key=lambda line: line[:24])  # time order across the slices
    one_reader = list(iter_events(rt.logs, API_LOGS, Window.last(600, now=now_ms / 1000), Pace(rate=1000)))
    assert sorted(lines) == sorted(format_event(e).rstrip("\n") for e in one_reader)  # the same events, once each
    assert len(calls) > len(lines) // 50  # several pages, over several slices
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api.txt"]  # the slice files are gone


def test_missing_log_group_is_recorded_not_fatal(rt: Any, seeded: dict[str, Any], tmp_path: Path) -> None:
    seeded["logs"].delete_log_group(logGroupName=WORKER_LOGS)
    result = run_capture(rt, "10m", 600, tmp_path, progress=lambda _: None)
    assert result.manifest["errors"] == [f"log group {WORKER_LOGS} not found: worker-logs-before-rollback.txt is empty"]
    assert (result.path / "worker-logs-before-rollback.txt").read_text() == ""


def test_capture_failing_partway_leaves_nothing_complete(rt: Any, tmp_path: Path) -> None:
    # Injected at the botocore layer: moto cannot make FilterLogEvents fail with a server error.
    def broken(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ServiceUnavailableException", "Message": "try later"}}, "FilterLogEvents")

    rt.logs.meta.events.register("before-call.logs.FilterLogEvents", broken)
    try:
        with pytest.raises(CaptureFailed) as caught:
            run_capture(rt, "10m", 600, tmp_path, progress=lambda _: None)
    finally:
        rt.logs.meta.events.unregister("before-call.logs.FilterLogEvents", broken)
    assert caught.value.exit_code == 1
    assert "FilterLogEvents failed: ServiceUnavailableException" in caught.value.message
    [left] = list(tmp_path.iterdir())
    assert left.name.endswith(".incomplete")
    assert json.loads((left / "manifest.json").read_text())["outcome"] == "failed"


def test_capture_bad_since_is_exit_2(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    result = run_inv(["capture", "--since", "ten minutes", "--out", "d"], moto_env, tmp_path)
    assert result.code == 2
    assert "--since 'ten minutes' is not a duration" in result.stderr
    assert not (tmp_path / "d").exists()


def test_capture_folder_problems_are_exit_2(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    result = run_inv(["capture", "--out", str(tmp_path / "a-file")], moto_env, tmp_path)
    assert result.code == 2, result.stderr
    assert "cannot create the capture folder in" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("since", ["99999999999999999999h", "721h"])
def test_capture_since_too_long_is_exit_2(seeded: Any, moto_env: dict[str, str], tmp_path: Path, since: str) -> None:
    result = run_inv(["capture", "--since", since, "--out", "d"], moto_env, tmp_path)
    assert result.code == 2 and "is not a duration" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "d").exists()


def test_concurrent_captures_each_get_a_folder(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    procs = [spawn_inv(["capture", "--out", "d"], moto_env, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [code for _, _, code in results] == [0, 0, 0], [err for _, err, _ in results]
    folders = {out.strip().splitlines()[-1].split()[-1] for out, _, _ in results}
    assert len(folders) == 3 and all(re.fullmatch(r"\d{8}T\d{6}Z", Path(f).name) for f in folders)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == sorted(Path(f).name for f in folders)


def test_wait_counts_a_scaled_down_service_whose_old_rollout_failed(rt: Any) -> None:
    """A deployment the circuit breaker marked FAILED keeps that state after a scale to 0: a count goal
    (worker.stop) is reached by the counts, not blocked by the old rollout state."""
    worker = _backend().services[f"{CLUSTER}:{WORKER}"]
    worker.desired_count, worker.running_count, worker.pending_count = 0, 0, 0
    worker.deployments[0].update({"rolloutState": "FAILED", "rolloutStateReason": "circuit breaker",
                                  "desiredCount": 0, "runningCount": 0, "pendingCount": 0})
    result = wait_for(rt.ecs, CLUSTER, [Goal(WORKER, desired=0)], timeout=5, poll=0.1, stream=io.StringIO())
    assert WORKER in result.seconds
    with pytest.raises(WaitFailed, match="rollout FAILED"):  # a task definition goal still fails on it
        wait_for(rt.ecs, CLUSTER, [Goal(WORKER, task_definition=f"{WORKER}:1")], timeout=5, poll=0.1,
                 stream=io.StringIO())
