"""``inv verify`` against real parts: a moto server over HTTP and a stdlib HTTP broker on 127.0.0.1.

Each xdist worker runs its own moto server (in-process, so the tests can put the static ECS
services into the states they need through ``moto.ecs.models.ecs_backends``) and each test gets
a fresh broker whose answers it controls.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
import requests
from botocore.config import Config
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends

from ops.checks.junit import write_junit
from ops.checks.verify import CHECK_NAMES, SKIPPED_DETAIL, VerifyResult, run_checks
from ops.config import Settings, load, token_from_env
from ops.errors import NotFound
from ops.http import make_session
from tests.helpers import API, CLUSTER, REGION, ROOT, WORKER, InvResult, base_env, config_with, run_inv

TOKEN_ENV = "SANDBOX_BROKER_API_TOKEN"
HEALTHY = {"status": "healthy", "timestamp": "2025-01-01T00:00:00Z"}
METRICS = "# HELP pool_total Sandboxes in the pool.\n# TYPE pool_total gauge\npool_total 12\npool_available 3\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the AWS side: moto over HTTP ----------------------------------------------------------


@pytest.fixture
def verify_moto(moto_endpoint: str) -> str:
    """The shared moto server of this xdist worker (tests/conftest.py)."""
    return moto_endpoint


@pytest.fixture
def ecs(verify_moto: str, aws_clients: dict[str, Any]) -> Any:
    """A fresh cluster with both services steady: API 2/2 on revision 1, worker 1/1."""
    requests.post(f"{verify_moto}/moto-api/reset", timeout=5).raise_for_status()
    client = aws_clients["ecs"]
    client.create_cluster(clusterName=CLUSTER)
    for family in (API, WORKER):
        client.register_task_definition(family=family, containerDefinitions=[{"name": family, "image": "busybox", "memory": 64}])
        client.create_service(cluster=CLUSTER, serviceName=family, taskDefinition=family, desiredCount=0)
    set_service(API, [("PRIMARY", 2, 2)])
    set_service(WORKER, [("PRIMARY", 1, 1)])
    return client


def set_service(name: str, deployments: list[tuple[str, int, int]]) -> None:
    """Put a moto service into a state: ``[(status, desired, running), ...]`` deployments."""
    service = ecs_backends[DEFAULT_ACCOUNT_ID][REGION].services[f"{CLUSTER}:{name}"]
    template = dict(service.deployments[0]) if service.deployments else {}
    service.deployments = [
        {**template, "id": f"ecs-svc/{index}", "status": status, "desiredCount": desired, "runningCount": running,
         "pendingCount": 0, "taskDefinition": f"arn:aws:ecs:{REGION}:{DEFAULT_ACCOUNT_ID}:task-definition/{name}:{index + 1}"}
        for index, (status, desired, running) in enumerate(deployments)
    ]
    primary = next((d for d in deployments if d[0] == "PRIMARY"), deployments[0] if deployments else ("", 0, 0))
    service.desired_count, service.running_count, service.pending_count = primary[1], sum(d[2] for d in deployments), 0


# --- the API side: a controllable broker ---------------------------------------------------


@dataclass
class Broker:
    """What the fake broker answers, and what it was asked."""

    token: str
    health: tuple[int, str] = (200, json.dumps(HEALTHY))
    allocate: tuple[int, str] = (201, '{"sandbox": "ok"}')
    metrics: tuple[int, str] = (200, METRICS)
    echo_auth: bool = False  # answer allocate with the Authorization header it got
    drop_allocate: bool = False  # close the connection without answering
    delay: float = 0.0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def posts(self) -> list[dict[str, str]]:
        return [headers for method, _, headers in self.requests if method == "POST"]


def _handler(broker: Broker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, answer: tuple[int, str], content_type: str = "application/json") -> None:
            status, body = answer
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            broker.requests.append(("GET", self.path, dict(self.headers)))
            time.sleep(broker.delay)
            if self.path == "/healthz":
                self._answer(broker.health)
            elif self.path == "/metrics":
                self._answer(broker.metrics, "text/plain; version=0.0.4")
            else:
                self._answer((404, "not found"))

        def do_POST(self) -> None:
            broker.requests.append(("POST", self.path, dict(self.headers)))
            if broker.drop_allocate:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            auth = self.headers.get("Authorization", "")
            if self.path != "/v1/allocate":
                self._answer((404, "not found"))
            elif broker.echo_auth:
                self._answer((401, json.dumps({"error": "bad token", "got": auth})))
            elif auth != f"Bearer {broker.token}":
                self._answer((401, '{"error": "invalid token"}'))
            else:
                self._answer(broker.allocate)

    return Handler


@pytest.fixture
def broker() -> Iterator[Broker]:
    state = Broker(token="tok-" + secrets.token_hex(16))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def settings_for(url: str, timeout: float = 5) -> Settings:
    return load(config_with(aws__profile=None, api__url=url, api__timeout=timeout))


def verify(broker: Broker, ecs: Any, token: str | None = "", allocate: bool = True, timeout: float = 5) -> VerifyResult:
    """run_checks against the broker; ``token=""`` means the broker's own (right) token."""
    chosen = broker.token if token == "" else token
    return run_checks(settings_for(broker.url, timeout), ecs, chosen, allocate=allocate, session=make_session(backoff_factor=0))


def by_name(result: VerifyResult) -> dict[str, Any]:
    return {c.name: c for c in result.checks}


def failing(result: VerifyResult) -> list[str]:
    return [c.name for c in result.checks if not c.ok]


# --- in-process: every check passing and failing -------------------------------------------


def test_all_pass_in_order_with_contract_shape(broker: Broker, ecs: Any) -> None:
    result = verify(broker, ecs)
    document = result.to_json()
    assert result.ok and document["ok"] is True
    assert [c["name"] for c in document["checks"]] == list(CHECK_NAMES)
    assert all(set(c) == {"name", "ok", "detail"} and c["ok"] is True for c in document["checks"])
    checks = by_name(result)
    assert "pool_total 12" in checks["metrics"].detail
    assert "running 2 of 2" in checks["api-service"].detail and "running 1 of 1" in checks["worker-service"].detail


def test_allocate_sends_the_runbook_headers_with_a_unique_sandbox_id(broker: Broker, ecs: Any) -> None:
    verify(broker, ecs)
    verify(broker, ecs)
    posts = broker.posts()
    assert len(posts) == 2
    for headers in posts:
        assert headers["Authorization"] == f"Bearer {broker.token}"
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Instruqt-Sandbox-ID"].startswith("rollback-test-")
    assert posts[0]["X-Instruqt-Sandbox-ID"] != posts[1]["X-Instruqt-Sandbox-ID"]


@pytest.mark.parametrize(
    ("health", "reason"),
    [
        ((200, json.dumps({"status": "degraded", "timestamp": "t"})), "degraded"),
        ((200, json.dumps({"status": "healthy"})), "no timestamp"),
        ((200, "<html>ok</html>"), "not JSON"),
        ((500, "internal error " + "x" * 400), "HTTP 500"),
        ((503, json.dumps(HEALTHY)), "HTTP 503"),
    ],
)
def test_healthz_fails(broker: Broker, ecs: Any, health: tuple[int, str], reason: str) -> None:
    broker.health = health
    result = verify(broker, ecs)
    assert not result.ok and failing(result) == ["healthz"]
    detail = by_name(result)["healthz"].detail
    assert reason in detail
    assert len(detail) < 200  # body excerpt is cut


@pytest.mark.parametrize(
    ("deployments", "reason"),
    [
        ([("PRIMARY", 2, 1), ("ACTIVE", 2, 2)], "2 deployments"),
        ([("PRIMARY", 2, 1)], "running != desired"),
        ([("PRIMARY", 0, 0)], "desired count is 0"),
        ([("ACTIVE", 2, 2)], "not PRIMARY"),
        ([], "0 deployments"),
    ],
)
def test_api_service_fails(broker: Broker, ecs: Any, deployments: list[tuple[str, int, int]], reason: str) -> None:
    set_service(API, deployments)
    result = verify(broker, ecs)
    assert failing(result) == ["api-service"]
    assert reason in by_name(result)["api-service"].detail


def test_worker_service_stopped_is_fine(broker: Broker, ecs: Any) -> None:
    set_service(WORKER, [("PRIMARY", 0, 0)])
    result = verify(broker, ecs)
    assert result.ok, result.to_json()
    assert "running 0 of 0" in by_name(result)["worker-service"].detail


@pytest.mark.parametrize(
    ("deployments", "reason"),
    [([("PRIMARY", 1, 0)], "running != desired"), ([("PRIMARY", 0, 1), ("ACTIVE", 1, 1)], "2 deployments")],
)
def test_worker_service_fails(broker: Broker, ecs: Any, deployments: list[tuple[str, int, int]], reason: str) -> None:
    set_service(WORKER, deployments)
    result = verify(broker, ecs)
    assert failing(result) == ["worker-service"]
    assert reason in by_name(result)["worker-service"].detail


def test_both_services_come_from_one_describe_call(broker: Broker, ecs: Any) -> None:
    calls: list[str] = []
    ecs.meta.events.register("before-call.ecs.*", lambda model, **_: calls.append(model.name))
    verify(broker, ecs)
    assert calls == ["DescribeServices"]


def test_a_missing_service_is_bad_config_not_a_failed_check(broker: Broker, ecs: Any) -> None:
    ecs.delete_service(cluster=CLUSTER, service=WORKER, force=True)
    with pytest.raises(NotFound) as caught:
        verify(broker, ecs)
    assert WORKER in caught.value.message and caught.value.exit_code == 2


def test_unreachable_aws_fails_both_service_checks(broker: Broker) -> None:
    client = boto3.client(
        "ecs", region_name=REGION, endpoint_url=f"http://127.0.0.1:{free_port()}", aws_access_key_id="testing",
        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    result = verify(broker, client)
    assert failing(result) == ["api-service", "worker-service"]
    assert "cannot describe services" in by_name(result)["api-service"].detail


def test_allocate_with_a_wrong_token_fails(broker: Broker, ecs: Any) -> None:
    result = verify(broker, ecs, token="not-the-token")
    assert failing(result) == ["allocate"]
    detail = by_name(result)["allocate"].detail
    assert "HTTP 401" in detail and "rollback-test-" in detail


def test_allocate_without_a_token_names_the_env_var_and_sends_nothing(broker: Broker, ecs: Any) -> None:
    result = verify(broker, ecs, token=None)
    assert failing(result) == ["allocate"]
    assert TOKEN_ENV in by_name(result)["allocate"].detail
    assert broker.posts() == []


def test_no_allocate_is_skipped_and_sends_nothing(broker: Broker, ecs: Any) -> None:
    result = verify(broker, ecs, token=None, allocate=False)
    check = by_name(result)["allocate"]
    assert result.ok and check.ok and check.skipped and check.verdict == "SKIP"
    assert check.to_json() == {"name": "allocate", "ok": True, "detail": SKIPPED_DETAIL}
    assert broker.posts() == []


def test_allocate_non_2xx_fails(broker: Broker, ecs: Any) -> None:
    broker.allocate = (409, '{"error": "pool exhausted"}')
    result = verify(broker, ecs)
    assert failing(result) == ["allocate"]
    assert "HTTP 409" in by_name(result)["allocate"].detail and "pool exhausted" in by_name(result)["allocate"].detail


def test_a_dropped_allocation_is_not_retried(broker: Broker, ecs: Any) -> None:
    broker.drop_allocate = True
    result = verify(broker, ecs)
    assert failing(result) == ["allocate"]
    assert "connection lost" in by_name(result)["allocate"].detail
    assert len(broker.posts()) == 1  # a read error must never allocate a second sandbox


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        ((200, "# HELP pool_total x\n# TYPE pool_total gauge\npool_total_bytes 5\npool_available 3\n"), "no pool_total"),
        ((500, "boom"), "HTTP 500: boom"),
    ],
)
def test_metrics_fails(broker: Broker, ecs: Any, metrics: tuple[int, str], reason: str) -> None:
    broker.metrics = metrics
    result = verify(broker, ecs)
    assert failing(result) == ["metrics"]
    assert reason in by_name(result)["metrics"].detail


def test_metrics_accepts_labelled_and_namespaced_samples(broker: Broker, ecs: Any) -> None:
    broker.metrics = (200, 'sandbox_broker_pool_total{region="eu"} 7\npool_total{region="us"} 4.0\n')
    result = verify(broker, ecs)
    assert result.ok
    assert "pool_total 7" in by_name(result)["metrics"].detail


def test_unreachable_api_fails_http_checks_without_raising(ecs: Any) -> None:
    settings = settings_for(f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    result = run_checks(settings, ecs, "tok", session=make_session(backoff_factor=0))
    assert time.monotonic() - started < 5
    assert failing(result) == ["healthz", "allocate", "metrics"]
    assert all("cannot connect" in by_name(result)[n].detail for n in failing(result))


def test_slow_api_times_out(broker: Broker, ecs: Any) -> None:
    broker.delay = 1.0
    result = verify(broker, ecs, timeout=0.2)
    assert "healthz" in failing(result) and "metrics" in failing(result)
    assert by_name(result)["healthz"].detail == "timed out"


def test_session_retries_connection_errors_only() -> None:
    retry = make_session().get_adapter("https://example.invalid").max_retries
    assert (retry.connect, retry.read, retry.status) == (3, False, 0)  # read=False: never retried
    assert retry.backoff_factor > 0


def test_token_never_in_details_even_when_echoed(broker: Broker, ecs: Any) -> None:
    broker.echo_auth = True
    result = verify(broker, ecs)
    assert failing(result) == ["allocate"]
    assert broker.token not in json.dumps(result.to_json())
    assert "***" in by_name(result)["allocate"].detail


def test_token_with_a_newline_fails_cleanly_without_showing_it(broker: Broker, ecs: Any) -> None:
    token = broker.token + "\nX-Evil: 1"
    result = verify(broker, ecs, token=token)
    assert failing(result) == ["allocate"]
    detail = by_name(result)["allocate"].detail
    assert TOKEN_ENV in detail and broker.token not in detail
    assert broker.posts() == []


def test_token_is_read_from_the_configured_env_var() -> None:
    settings = settings_for("http://127.0.0.1:1")
    assert token_from_env(settings, {TOKEN_ENV: "  abc \n"}) == "abc"
    assert token_from_env(settings, {TOKEN_ENV: "  "}) is None
    assert token_from_env(settings, {"OTHER": "abc"}) is None


# --- JUnit ---------------------------------------------------------------------------------


def test_junit_report(broker: Broker, ecs: Any, tmp_path: Path) -> None:
    broker.metrics = (500, "boom")
    result = verify(broker, ecs, allocate=False)
    target = tmp_path / "deep" / "er" / "verify.xml"
    target.parent.mkdir(parents=True)
    target.write_text("old")
    target.chmod(0o644)
    write_junit(result, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    suite = ET.parse(target).getroot()
    assert suite.tag == "testsuite" and suite.get("name") == "verify"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert list(cases) == list(CHECK_NAMES)
    assert all(float(case.get("time", "x")) >= 0 for case in cases.values())
    assert cases["metrics"].find("failure").get("message") == "HTTP 500: boom"
    assert cases["allocate"].find("skipped") is not None and cases["allocate"].find("failure") is None
    assert cases["healthz"].find("failure") is None and cases["healthz"].find("skipped") is None
    assert [p.name for p in target.parent.iterdir()] == ["verify.xml"]  # no temporary left behind


def test_junit_creates_parent_folders(broker: Broker, ecs: Any, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "junit.xml"
    write_junit(verify(broker, ecs), target)
    assert ET.parse(target).getroot().get("failures") == "0"


# --- end to end: `inv verify` as a subprocess ----------------------------------------------


def inv_verify(moto_env: dict[str, str], broker: Broker, *args: str, token: str | None = "") -> InvResult:
    """`inv verify ARGS` against the moto server (tests/conftest.py ``moto_env``) and ``broker``."""
    env = dict(moto_env, INVOKE_API_URL=broker.url)
    assert TOKEN_ENV not in env  # base_env leaves no inherited token
    if token is not None:
        env[TOKEN_ENV] = broker.token if token == "" else token
    return run_inv(["verify", *args], env, ROOT, timeout=60)


def test_inv_verify_passes(moto_env: dict[str, str], broker: Broker, ecs: Any) -> None:
    done = inv_verify(moto_env, broker)
    assert done.code == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("OK")
    for name in CHECK_NAMES:
        assert any(line.split()[:2] == [name, "PASS"] for line in lines), done.stdout
    assert "AWS account" in done.stderr  # whoami's line, on stderr
    assert broker.token not in done.stdout + done.stderr
    assert broker.posts()[0]["Authorization"] == f"Bearer {broker.token}"


def test_inv_verify_json_junit_failing(moto_env: dict[str, str], broker: Broker, ecs: Any, tmp_path: Path) -> None:
    broker.metrics = (200, "pool_available 3\n")
    broker.echo_auth = True
    junit = tmp_path / "reports" / "verify.xml"
    done = inv_verify(moto_env, broker, "--json", "--junit", str(junit))
    assert done.code == 1
    document = json.loads(done.stdout)  # the whole stdout is the one JSON document
    assert document["ok"] is False
    assert [c["name"] for c in document["checks"]] == list(CHECK_NAMES)
    assert [c["name"] for c in document["checks"] if not c["ok"]] == ["allocate", "metrics"]
    assert "error: verification failed" in done.stderr
    assert stat.S_IMODE(junit.stat().st_mode) == 0o600
    xml = junit.read_text()
    assert ET.fromstring(xml).get("failures") == "2"
    for text in (done.stdout, done.stderr, xml):
        assert broker.token not in text


def test_inv_verify_no_allocate_needs_no_token(moto_env: dict[str, str], broker: Broker, ecs: Any) -> None:
    done = inv_verify(moto_env, broker, "--no-allocate", "--json", token=None)
    assert done.code == 0, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    assert checks["allocate"] == {"name": "allocate", "ok": True, "detail": SKIPPED_DETAIL}
    assert broker.posts() == []


def test_inv_verify_missing_token(moto_env: dict[str, str], broker: Broker, ecs: Any) -> None:
    done = inv_verify(moto_env, broker, token=None)
    assert done.code == 1
    row = next(line for line in done.stdout.splitlines() if line.startswith("allocate"))
    assert "FAIL" in row and TOKEN_ENV in row
    assert done.stdout.strip().splitlines()[-1].startswith("FAILED: 1 of 5")
    assert broker.posts() == []


def test_inv_verify_unhealthy_service_table(moto_env: dict[str, str], broker: Broker, ecs: Any) -> None:
    set_service(API, [("PRIMARY", 2, 1), ("ACTIVE", 2, 2)])
    broker.health = (503, '{"status": "unhealthy"}')
    done = inv_verify(moto_env, broker)
    assert done.code == 1
    assert done.stdout.strip().splitlines()[-1] == "FAILED: 2 of 5 checks failed (healthz, api-service)"
    assert "error:" not in done.stdout and "error: verification failed" in done.stderr


def test_inv_verify_help_names_the_flags(tmp_path: Path) -> None:
    done = run_inv(["--help", "verify"], base_env(tmp_path), ROOT, timeout=30)
    assert done.code == 0
    for flag in ("--[no-]allocate", "--json", "--junit"):
        assert flag in done.stdout
    assert "Post-Rollback Verification: health, both services, allocation, metrics." in done.stdout


def test_inv_verify_junit_through_dev_null_and_bad_names(moto_env: dict[str, str], broker: Broker, ecs: Any, tmp_path: Path) -> None:
    done = inv_verify(moto_env, broker, "--junit", os.devnull)
    assert done.code == 0, done.stderr
    assert Path(os.devnull).is_char_device()  # written through, never replaced by a file
    posted = len(broker.posts())
    for bad, words in (("", "--junit needs a file name"), (str(tmp_path), "is a folder")):
        result = inv_verify(moto_env, broker, "--junit", bad)
        assert result.code == 2 and words in result.stderr and "Traceback" not in result.stderr
        assert len(broker.posts()) == posted  # refused before any check ran
