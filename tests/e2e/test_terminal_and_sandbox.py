"""The interactive paths (a real pseudo-terminal) and `inv sandbox` in the foreground."""
from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.helpers import REGION, base_env, primary_revision, run_inv, spawn_inv, world_env
from tests.world.helpers import Cli, client


def _read_until(fd: int, pattern: str, timeout: float = 60) -> str:
    """Read a pty until ``pattern`` appears (bounded in time)."""
    seen, deadline = "", time.monotonic() + timeout
    while pattern not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 4096).decode(errors="replace")
            except OSError:
                break
    return seen


def _spawn_on_pty(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[bytes], int]:
    master, slave = pty.openpty()
    proc = spawn_inv(args, env, cwd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    return proc, master


def _answer_prompt(args: list[str], env: dict[str, str], cwd: Path, answer: bytes, until: str,
                   timeout: float = 60) -> tuple[int, str]:
    """Run `inv ARGS` on a pseudo-terminal, answer its confirmation prompt, read until ``until``."""
    proc, master = _spawn_on_pty(args, env, cwd)
    try:
        screen = _read_until(master, "Type 'yes' to continue")
        os.write(master, answer)
        screen += _read_until(master, until)
        return proc.wait(timeout=timeout), screen
    finally:
        os.close(master)


def _sandbox(tmp_path: Path, *flags: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start `inv sandbox` and read its banner (up to "Ctrl-C stops")."""
    proc = spawn_inv(["sandbox", "--rollout-seconds", "1", *flags], base_env(tmp_path), tmp_path,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(line.startswith("Ctrl-C stops") for line in lines):
        lines.append(proc.stdout.readline().rstrip("\n"))
    return proc, lines


def test_terminal_prompt_declined_changes_nothing(world: Any, tmp_path: Path) -> None:
    code, screen = _answer_prompt(["rollback.api"], world_env(world, tmp_path), tmp_path, b"no\n", "not confirmed")
    assert code == 1
    assert "plan: Option 1: roll back sandbox-broker to sandbox-broker:8" in screen
    # the question names where the change would land, after the plan's diff
    question = screen.index("Proceed with Option 1: roll back sandbox-broker to sandbox-broker:8 in AWS account "
                            f"{world.account_id}, region eu-central-1, cluster sandbox-broker-cluster? Type 'yes'")
    assert screen.index("diff: sandbox-broker:9 (running now) -> sandbox-broker:8") < question
    assert "not confirmed: nothing was changed" in screen
    assert primary_revision(world) == "sandbox-broker:9"
    assert not (tmp_path / "diagnostics").exists()


def test_ctrl_d_at_the_prompt_is_a_no(world: Any, tmp_path: Path) -> None:
    code, screen = _answer_prompt(["worker.stop"], world_env(world, tmp_path), tmp_path, b"\x04", "not confirmed")
    assert code == 1
    assert "not confirmed: nothing was changed" in screen and "Traceback" not in screen
    assert world.service_state("sandbox-broker-worker")["desired"] == 1


def test_terminal_prompt_confirmed_runs_with_live_progress(world: Any, tmp_path: Path) -> None:
    code, screen = _answer_prompt(["rollback.api"], world_env(world, tmp_path), tmp_path, b"yes\n", "checks passed")
    assert code == 0
    assert "\x1b[2K" in screen  # the wait redraws its progress lines in place on a terminal
    assert "sandbox-broker reached a steady state" in screen
    assert primary_revision(world) == "sandbox-broker:8"


def test_sandbox_task_serves_until_interrupted(tmp_path: Path) -> None:
    proc, lines = _sandbox(tmp_path, "--scenario", "worker-stopped")
    try:
        endpoint = next(line.split("=", 1)[1] for line in lines if line.startswith("AWS_ENDPOINT_URL="))
        api_url = next(line.split("=", 1)[1] for line in lines if line.startswith("api.url="))
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", endpoint) and re.fullmatch(r"http://127\.0\.0\.1:\d+", api_url)
        config = next(line.split("-f ", 1)[1].split()[0] for line in lines if " -f " in line)
        token = next(line.split("=", 1)[1] for line in lines if "SANDBOX_BROKER_API_TOKEN=" in line)
        env = dict(base_env(tmp_path), AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y",
                   SANDBOX_BROKER_API_TOKEN=token)
        status = run_inv(["-f", config, "status", "--json"], env, tmp_path)
        assert status.code == 0, status.stderr
        assert '"name": "sandbox-broker-worker"' in status.stdout and '"desired": 0' in status.stdout
        triage = run_inv(["-f", config, "triage", "--json"], env, tmp_path)
        assert '"recommendation": "restart-worker"' in triage.stdout
        sandbox = SimpleNamespace(aws_endpoint=endpoint, region=REGION)  # what the helpers need of a World
        assert client(sandbox, "ecs").list_clusters()["clusterArns"]
        # the AWS CLI's deployment-history commands, answered by `inv sandbox` as ECS answers them
        cli, where = Cli(sandbox, tmp_path / "cli"), f"--region {REGION} --profile okta-sso"
        listed = cli.json(f"aws ecs list-service-deployments --cluster sandbox-broker-cluster --service sandbox-broker "
                          f"{where}")
        revision = listed["serviceDeployments"][0]["targetServiceRevisionArn"]
        described = cli.json(f"aws ecs describe-service-revisions --service-revision-arns {revision} {where}")
        assert described["serviceRevisions"][0]["taskDefinition"].endswith("task-definition/sandbox-broker:9")
        assert described["serviceRevisions"][0]["containerImages"][0]["imageDigest"].startswith("sha256:")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert not Path(config).exists()  # its runtime config (with the token) is removed on exit


def test_sandbox_unknown_scenario(tmp_path: Path) -> None:
    result = run_inv(["sandbox", "--scenario", "nope"], base_env(tmp_path), tmp_path)
    assert result.code == 2 and "--scenario 'nope' is not known" in result.stderr


def test_sandbox_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc, lines = _sandbox(tmp_path)
    config = next(line.split("-f ", 1)[1].split()[0] for line in lines if " -f " in line)
    assert Path(config).exists()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err
    assert not Path(config).exists()


def test_a_missing_optional_part_is_one_line_naming_the_install(tmp_path: Path) -> None:
    """An install without the sandbox extra (no moto, no PyYAML): `inv sandbox` and `inv drill` say how to
    install it, exit 2, no traceback. The missing packages are hidden by an import hook on PYTHONPATH."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Missing:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('moto', 'yaml'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Missing())\n")
    env = dict(base_env(tmp_path), PYTHONPATH=str(blocker))
    for task in (["sandbox"], ["drill"], ["drill", "--scenario", "release-in-flight"]):
        result = run_inv(task, env, tmp_path)
        assert result.code == 2, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
        [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert "the sandbox extra" in error and "is not installed" in error
        assert "pip install -e '.[sandbox]'" in result.stderr
    assert run_inv(["--list"], env, tmp_path).code == 0  # the toolkit itself needs none of it


def test_option1_to_option4_are_the_runbook_s_names_for_the_tasks(tmp_path: Path) -> None:
    listed = run_inv(["--list"], base_env(tmp_path), tmp_path).stdout
    for number, docstring in enumerate(("Option 1: roll the API service back", "Option 2: register a copy",
                                        "Option 3: scale the worker service to 0", "Option 4: stop the worker"), 1):
        assert re.search(rf"^  option{number}\s+{re.escape(docstring)}", listed, re.M), listed
    for number, same in ((1, "rollback.api"), (3, "worker.stop")):
        assert run_inv([f"option{number}", "--help"], base_env(tmp_path), tmp_path).stdout.replace(
            f"option{number}", "X") == run_inv([same, "--help"], base_env(tmp_path), tmp_path).stdout.replace(same, "X")


def test_sandbox_ports_that_are_taken_are_one_line_not_a_hang(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        for flag in ("--aws-port", "--api-port"):
            result = run_inv(["sandbox", flag, port], base_env(tmp_path), tmp_path, timeout=30)
            assert result.code == 2, (flag, result.stderr)
            assert "cannot start the sandbox" in result.stderr and "Traceback" not in result.stderr
