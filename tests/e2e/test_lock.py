"""One rollback at a time, the right account, and clean ends: the SSM lock against the rehearsal world
over HTTP, real `inv` processes racing, real SIGTERM/SIGINT, and credentials that expire mid-run
(injected at the world's HTTP layer: the world answers every call after the first UpdateService with
ExpiredTokenException, as AWS does when a session ends)."""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    API,
    LOCK_OPERATIONS,
    audit_lines,
    primary_revision,
    run_inv,
    service_changes,
    spawn_inv,
    spawn_until,
    world_env,
)
from tests.world.helpers import client

LOCK = "/rollback-toolkit/sandbox-broker-cluster/sandbox-broker"


def _held(world: Any) -> dict[str, Any] | None:
    ssm = client(world, "ssm")
    try:
        return json.loads(ssm.get_parameter(Name=LOCK)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        return None


def _plant(world: Any, age: timedelta, host: str = "ops-laptop", pid: int = 4242) -> None:
    """A lock somebody else took ``age`` ago."""
    started = (datetime.now(timezone.utc) - age).isoformat(timespec="seconds")
    value = {"caller": "arn:aws:sts::123456789012:assumed-role/oncall/alice", "task": "rollback.full", "host": host,
             "pid": pid, "startedAt": started, "token": "someone-else", "plan": ["stop the worker (sandbox-broker-worker)"]}
    client(world, "ssm").put_parameter(Name=LOCK, Value=json.dumps(value), Type="String", Overwrite=True)


def test_two_rollbacks_at_the_same_instant_exactly_one_changes_anything(world: Any, tmp_path: Path) -> None:
    world.set_behaviour(API, 8, "stuck")  # the winner holds the lock through its whole (timed-out) wait
    env = world_env(world, tmp_path)
    for round_ in range(4):
        before = len(service_changes(tmp_path))
        args = ["rollback.api", "--yes", "--timeout", "2", "--allow-same-image"]  # :8 again after round 1
        procs = [spawn_inv(args, env, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        results = [(p.wait(timeout=90), *p.communicate()) for p in procs]
        refused = [err for code, _, err in results if "is held by" in err]
        assert len(refused) == 1, [err[-600:] for _, _, err in results]
        assert "nothing was changed" in refused[0] and "rollback.api" in refused[0]
        assert all(code == 1 for code, _, _ in results)  # the winner timed out on the stuck target
        assert len(service_changes(tmp_path)) == before + 1, f"round {round_}: both changed"
        assert _held(world) is None  # released at the end


def test_a_held_lock_is_named_and_only_a_stale_or_orphaned_one_is_broken(world: Any, tmp_path: Path) -> None:
    env = world_env(world, tmp_path)
    _plant(world, timedelta(minutes=5))
    held = run_inv(["rollback.api", "--yes"], env, tmp_path)
    assert held.code == 1
    assert "held by arn:aws:sts::123456789012:assumed-role/oncall/alice (rollback.full on ops-laptop, pid 4242)" \
        in held.stderr and "5m ago" in held.stderr and "--break-lock" in held.stderr
    young = run_inv(["rollback.api", "--yes", "--break-lock"], env, tmp_path)
    assert young.code == 1 and "refusing to break the rollback lock" in young.stderr
    assert service_changes(tmp_path) == [] and primary_revision(world) == "sandbox-broker:9" and _held(world)["token"] == "someone-else"
    dry = run_inv(["rollback.api", "--dry-run"], env, tmp_path)
    assert dry.code == 0 and "note: the rollback lock is held by arn:aws:sts::123456789012:assumed-role/oncall/alice" \
        in dry.stdout and "a real run would stop there" in dry.stdout
    status = run_inv(["status", "--json"], env, tmp_path)
    assert json.loads(status.stdout)["lock"]["task"] == "rollback.full"
    assert "ROLLBACK LOCK held by" in run_inv(["status"], env, tmp_path).stdout

    _plant(world, timedelta(hours=2))
    broken = run_inv(["rollback.api", "--yes", "--break-lock"], env, tmp_path)
    assert broken.code == 0, broken.stdout + broken.stderr
    assert f"breaking the stale rollback lock: removing {LOCK}, held by arn:aws:sts::123456789012:assumed-role/" \
           "oncall/alice" in broken.stdout and "its plan: stop the worker" in broken.stdout
    assert _held(world) is None and primary_revision(world) == "sandbox-broker:8"
    lock_lines = [(r["operation"], r["action"], r["outcome"]) for r in audit_lines(tmp_path)
                  if r["operation"] in LOCK_OPERATIONS]
    assert lock_lines[-6:] == [("put_parameter", "take the rollback lock", "failed"),  # it was held
                               ("put_parameter", "mark that the rollback lock is being broken", "ok"),
                               ("delete_parameter", "break the stale rollback lock", "ok"),
                               ("delete_parameter", "remove the break marker", "ok"),
                               ("put_parameter", "take the rollback lock", "ok"),
                               ("delete_parameter", "release the rollback lock", "ok")]
    assert json.loads(run_inv(["status", "--json"], env, tmp_path).stdout)["lock"] is None


def test_a_young_lock_is_refused_even_when_its_process_on_this_host_is_gone(world: Any, tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _plant(world, timedelta(seconds=30), host=socket.gethostname(), pid=gone.pid)
    result = run_inv(["worker.stop", "--yes", "--break-lock", "--no-wait"], world_env(world, tmp_path), tmp_path)
    assert result.code == 1, result.stdout + result.stderr  # the contract: a younger one is refused
    assert "younger than lock.stale_after (3600s); its process on this host is gone" in result.stderr
    assert f"remove it by hand: aws ssm delete-parameter --name {LOCK}" in result.stderr
    assert _held(world)["token"] == "someone-else" and service_changes(tmp_path) == []


def test_breakers_of_a_stale_lock_at_the_same_instant_never_both_hold_it(world: Any, tmp_path: Path) -> None:
    env = world_env(world, tmp_path)
    for _ in range(3):
        _plant(world, timedelta(hours=2))
        before = len(service_changes(tmp_path))
        args = ["rollback.api", "--yes", "--break-lock", "--no-wait", "--force", "--allow-same-image"]
        procs = [spawn_inv(args, env, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
        results = [(p.wait(timeout=90), *p.communicate()) for p in procs]
        winners = [out for code, out, _ in results if code == 0]
        assert len(winners) >= 1 and len(service_changes(tmp_path)) - before == len(winners)
        for code, out, err in results:  # a loser changed nothing and said who holds it (or that it is broken)
            assert code == 0 or ("nothing was changed" in err and "done:" not in out), err
        assert sum("breaking the stale rollback lock" in out for _, out, _ in results) == 1
        assert _held(world) is None


def test_a_release_that_fails_is_said_with_the_command_to_do_it_by_hand(world: Any, tmp_path: Path) -> None:
    world.deny("ssm:DeleteParameter")
    result = run_inv(["worker.stop", "--yes", "--no-wait"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0, result.stdout + result.stderr  # the change itself worked
    assert "warning: could not release the rollback lock (access denied calling DeleteParameter" in result.stderr
    assert f"remove it by hand: aws ssm delete-parameter --name {LOCK} --region eu-central-1" in result.stderr
    assert _held(world) is not None


def test_the_wrong_account_is_exit_2_before_any_other_call(world: Any, tmp_path: Path) -> None:
    env = dict(world_env(world, tmp_path), INVOKE_AWS_ACCOUNT_ID="905418046272")
    for task in (["rollback.api", "--yes"], ["status"], ["worker.stop", "--dry-run"]):
        result = run_inv(task, env, tmp_path)
        assert result.code == 2, (task, result.stderr)
        assert "account 123456789012, but aws.account_id is 905418046272" in result.stderr
        assert "Traceback" not in result.stderr
        assert result.calls == [("sts", "get_caller_identity")]  # nothing else was asked, let alone changed
    assert not (tmp_path / "diagnostics").exists()
    right = run_inv(["status"], dict(env, INVOKE_AWS_ACCOUNT_ID=world.account_id), tmp_path)
    assert right.code == 0, right.stderr


def test_sigterm_mid_wait_is_ctrl_c_and_releases_the_lock(world: Any, tmp_path: Path) -> None:
    world.set_behaviour(API, 8, "stuck")
    proc = spawn_until(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path,
                       "done: roll back the API service")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "changed so far:" in err and "to undo: inv rollback.api --revision 9" in err
    assert "released the rollback lock" in out and _held(world) is None
    assert "Traceback" not in err
    events = [d.json["event"] for d in world.webhook.received()]
    assert events == ["started", "interrupted"]


def test_a_second_ctrl_c_during_the_aftermath_leaves_no_traceback(world: Any, tmp_path: Path) -> None:
    """The second Ctrl-C lands in the aftermath: the first one's 'interrupted' notification reaches the
    webhook only once the aftermath was said (and further signals held), and the webhook holds it, so the
    task is still there, waiting (the notifier's 5 s) before it releases the lock and ends."""
    world.set_behaviour(API, 8, "stuck")
    proc = spawn_until(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path,
                       "done: roll back the API service")
    world.webhook.wait_for(1)  # 'started'
    world.webhook.hang(30, times=1)  # the next one, 'interrupted', gets no answer
    proc.send_signal(signal.SIGINT)
    assert world.webhook.wait_for(2)[1].json["event"] == "interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and "changed so far:" in err and "state now:" in err
    # the second Ctrl-C cut nothing short: the lock was released and the notifier waited its full timeout
    assert "released the rollback lock" in out and _held(world) is None
    assert "warning: 1 of 2 notifications not delivered to the webhook ('interrupted': no answer within 5s)" in err


def test_credentials_that_expire_after_the_change_say_ecs_carries_on(world: Any, tmp_path: Path) -> None:
    world.inject_fault(action="*", code="ExpiredTokenException", message="The security token included in the "
                       "request is expired", after="UpdateService")
    result = run_inv(["rollback.api", "--yes"], world_env(world, tmp_path), tmp_path)
    assert result.code == 1, result.stdout + result.stderr
    err = result.stderr
    assert "changed so far:" in err and "sandbox-broker:9 -> sandbox-broker:8" in err
    assert "ECS carries on with the rollout on its own" in err
    assert "run `aws sso login` (or export fresh credentials), then `inv wait` and `inv verify`" in err
    assert "could not release the rollback lock" in err and "aws ssm delete-parameter" in err
    assert "Traceback" not in err
    world.clear_faults()
    assert world.settle(30) and primary_revision(world) == "sandbox-broker:8"  # ECS did carry on


@pytest.mark.parametrize("task", [["worker.stop"], ["rollback.api"]])
def test_dry_run_takes_no_lock(world: Any, tmp_path: Path, task: list[str]) -> None:
    result = run_inv([*task, "--dry-run"], world_env(world, tmp_path), tmp_path)
    assert result.code == 0 and ("ssm", "put_parameter") not in result.calls and _held(world) is None
