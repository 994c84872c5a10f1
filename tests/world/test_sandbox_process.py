"""`inv sandbox` as a real process: the AWS CLI reads its deployment history; SIGTERM (how CI and
`kill` stop it) ends it within 2 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import requests

from ops.sandbox.runbook import aws_argv, isolated_env

ROOT = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).with_name("inv"))
STOP_SECONDS = 2.0  # the sandbox must exit within 2 s of SIGTERM (it takes ~0.1 s)


def _start_sandbox(home: Path, *flags: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`inv sandbox` in the background; returns it and its banner's KEY=VALUE lines once it is ready."""
    proc = subprocess.Popen([INV, "-r", str(ROOT), "sandbox", "--rollout-seconds", "1", *flags], cwd=home,
                            env=dict(isolated_env(home), PYTHONUNBUFFERED="1"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    banner: dict[str, str] = {}
    for line in proc.stdout:
        key, _, value = line.strip().partition("=")
        banner.setdefault(key, value)
        if line.startswith("Ctrl-C stops"):
            return proc, banner
    raise AssertionError(f"inv sandbox ended before it was ready: {proc.communicate()[1]}")


def test_sigterm_stops_the_sandbox_within_two_seconds(tmp_path: Path) -> None:
    proc, banner = _start_sandbox(tmp_path)
    try:
        ecs = boto3.client("ecs", endpoint_url=banner["AWS_ENDPOINT_URL"], region_name="eu-central-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        api = requests.Session()  # both clients keep their connections open (HTTP keep-alive)
        assert ecs.list_clusters()["clusterArns"]
        assert api.get(f"{banner['api.url']}/healthz", timeout=5).status_code == 503
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert "sandbox world: stopping" in out and "Traceback" not in err
    assert elapsed < STOP_SECONDS, f"took {elapsed:.2f}s to exit after SIGTERM"


def test_the_aws_cli_reads_the_sandbox_deployment_history(tmp_path: Path) -> None:
    proc, banner = _start_sandbox(tmp_path, "--scenario", "next-release-failing")
    try:
        env = dict(isolated_env(tmp_path), AWS_ENDPOINT_URL=banner["AWS_ENDPOINT_URL"], AWS_ACCESS_KEY_ID="any",
                   AWS_SECRET_ACCESS_KEY="thing", AWS_DEFAULT_REGION="eu-central-1")
        command = ("aws ecs list-service-deployments --cluster sandbox-broker-cluster --service sandbox-broker "
                   "--query serviceDeployments[].targetServiceRevisionArn --output text")
        listed = subprocess.run(aws_argv(command, str(Path(sys.executable).with_name("aws"))), env=env,
                                capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        arns = listed.stdout.split()
        assert len(arns) == 4  # :10, :9, :8, :7
        command = f"aws ecs describe-service-revisions --service-revision-arns {arns[1]} " \
                  "--query serviceRevisions[0].taskDefinition --output text"
        described = subprocess.run(aws_argv(command, str(Path(sys.executable).with_name("aws"))), env=env,
                                   capture_output=True, text=True, timeout=60)
        assert described.stdout.strip().endswith("task-definition/sandbox-broker:9"), described.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
