"""The local rehearsal world: moto ECS/ECR/Logs/STS/IAM/SSM over HTTP, a rollout simulator, the broker API."""

from __future__ import annotations

import os
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

import yaml
from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict
from moto.ecr.models import ecr_backends
from moto.ecs.models import ecs_backends
from moto.logs.models import logs_backends

from .access import CallerAccess
from .api import BrokerApiServer
from .autoscaling import AutoScaling
from .aws import AwsServer
from .broker import BrokerModel, Observation
from .ecs_model import SimulatedTask
from .faults import FaultInjector, FaultRule
from .history import DeploymentHistory
from .history_api import HistoryApi
from .logfilter import LogFilter
from .registry import Release, keep_untagged_images, pullable, resolve_digest
from .scenarios import (
    API_CONTAINER,
    API_LOG_GROUP,
    API_SERVICE,
    CLUSTER,
    REGION,
    WORKER_LOG_GROUP,
    WORKER_SERVICE,
    Behaviour,
    BehaviourTable,
    check_behaviour,
    get_scenario,
)
from .seed import Backends, seed
from .simulator import RolloutSimulator
from .traffic import LogTraffic, Speaker

TICK_SECONDS = 0.1
_CREDENTIAL_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class World(CallerAccess):
    """A production-like sandbox-broker deployment on 127.0.0.1, moving over time.

    Only one World may be active per process (moto's backends are process-global); entering
    resets moto's state.
    """

    _active: ClassVar[World | None] = None
    _active_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, scenario: str = "api-bad-release", rollout_seconds: float = 3.0,
                 aws_port: int = 0, api_port: int = 0, circuit_breaker_rollback: bool = False,
                 circuit_breaker_failures: int | None = None) -> None:
        self.scenario = get_scenario(scenario)
        self.rollout_seconds = rollout_seconds
        self.region = REGION
        self.account_id = DEFAULT_ACCOUNT_ID
        self.token = secrets.token_urlsafe(24)
        self.releases: list[Release] = []
        self._ports = (aws_port, api_port)
        self._breaker = (circuit_breaker_rollback, circuit_breaker_failures)
        self._lock = threading.RLock()
        self._faults = FaultInjector()
        self._behaviours = BehaviourTable()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._aws: AwsServer | None = None
        self._api: BrokerApiServer | None = None
        self._sim: RolloutSimulator | None = None
        self._scaling: AutoScaling | None = None
        self._traffic: LogTraffic | None = None
        self._broker: BrokerModel | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> World:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Reset moto, seed the scenario, start the AWS endpoint, the API and the ticker."""
        with World._active_lock:
            if World._active is not None:
                raise RuntimeError("another sandbox World is already active in this process "
                                   "(moto's state is process-global); stop it first")
            World._active = self
        try:
            self._build()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the ticker and both servers, freeing their ports. Idempotent."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        for server in (self._api, self._aws):
            if server is not None:
                server.stop()
        self._api = self._aws = None
        self._stop_access()
        with World._active_lock:
            if World._active is self:
                World._active = None

    def _build(self) -> None:
        BackendDict.reset()
        backends = Backends(
            ecs=ecs_backends[self.account_id][self.region],
            ecr=ecr_backends[self.account_id][self.region],
            logs=logs_backends[self.account_id][self.region],
            autoscaling=applicationautoscaling_backends[self.account_id][self.region],
            cloudwatch=cloudwatch_backends[self.account_id][self.region],
        )
        keep_untagged_images(backends.ecr)
        rollback, failures = self._breaker
        self._sim = RolloutSimulator(
            backends.ecs, self._behaviours, lambda uri: resolve_digest(backends.ecr, uri),
            lambda uri, digest: pullable(backends.ecr, uri, digest),
            DeploymentHistory(self.region, self.account_id), self.rollout_seconds, time.monotonic, failures,
        )
        self._sim.install()
        self._traffic = LogTraffic(backends.logs)
        gate = self._start_access(self.scenario.denied_actions,
                                  {"logs:FilterLogEvents": LogFilter(backends.logs).serve})
        self.releases = seed(backends, self._sim, self._traffic, self.scenario, self._behaviours,
                             rollback, datetime.now(timezone.utc))
        self._scaling = AutoScaling(backends.autoscaling, backends.cloudwatch, self._sim)
        if self.scenario.backlog_alarm:
            self._scaling.add_backlog_policy(CLUSTER, WORKER_SERVICE, period=max(0.5, self.rollout_seconds))
        self._broker = BrokerModel(self._observe)
        aws_port, api_port = self._ports
        self._aws = AwsServer(aws_port, self._lock, self._faults,
                              [HistoryApi(self._sim, backends.ecs).middleware, gate.middleware])
        self._api = BrokerApiServer(api_port, self._broker, self.token, self._lock)
        self._aws.start()
        self._api.start()
        self._stop.clear()
        self._ticker = threading.Thread(target=self._run_ticker, name="world-ticker", daemon=True)
        self._ticker.start()

    def _run_ticker(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(TICK_SECONDS):
            now = time.monotonic()
            with self._lock:
                self._tick(now, now - last)
            last = now

    def _tick(self, now: float, elapsed: float) -> None:
        sim, traffic, broker = self._parts()
        self._require(self._scaling).tick(now)
        sim.tick()
        traffic.tick(now, int(time.time() * 1000), self._speakers())
        broker.tick(elapsed)

    # -- addresses and configuration -------------------------------------------------------

    @property
    def aws_endpoint(self) -> str:
        """``http://127.0.0.1:N``: moto; any credentials accepted, the on-call role's checked."""
        return self._require(self._aws).endpoint

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:M``: the broker API."""
        return self._require(self._api).url

    def env(self) -> dict[str, str]:
        """This process's environment pointed at the world (for subprocesses and boto3).

        Sets the endpoint, the on-call role session's keys (AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), the region, the API token and
        SANDBOX_BROKER_ROLLBACK_WEBHOOK (the world's webhook receiver); removes AWS_PROFILE and
        any inherited session token so nothing reaches for real credentials.
        """
        env = {k: v for k, v in os.environ.items() if k not in _CREDENTIAL_VARS}
        env.update({
            "AWS_ENDPOINT_URL": self.aws_endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region, "SANDBOX_BROKER_API_TOKEN": self.token,
        })
        env.update(self._access_env())
        return env

    def write_runtime_config(self, path: str | os.PathLike[str]) -> Path:
        """Write a runtime config for ``inv -f PATH`` (mode 0600): no profile, region, api.url."""
        target = Path(path)
        config = {"aws": {"profile": None, "region": self.region}, "api": {"url": self.api_url}}
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        target.chmod(0o600)
        return target

    # -- control and observation -----------------------------------------------------------

    def settle(self, timeout: float = 30) -> bool:
        """Wait until no deployment is IN_PROGRESS and count changes converged; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._parts()[0].converged():
                    return True
            time.sleep(0.05)
        return False

    def set_behaviour(self, family: str, revision: int, behaviour: str) -> None:
        """Make tasks of ``family:revision`` behave so, whatever image they run."""
        with self._lock:
            self._behaviours.overrides[(family, int(revision))] = check_behaviour(behaviour)

    def clear_behaviour(self, family: str, revision: int) -> None:
        """Undo ``set_behaviour``: tasks of ``family:revision`` behave by the image they run again."""
        with self._lock:
            self._behaviours.overrides.pop((family, int(revision)), None)

    def inject_fault(self, action: str = "FilterLogEvents", code: str = "AccessDeniedException",
                     message: str | None = None, status: int = 400, times: int | None = None,
                     after: str | None = None) -> None:
        """Answer the next ``times`` requests for AWS operation ``action`` (``*``: any) with an error;
        with ``after``, only once a request for that operation has gone through."""
        text = message or f"User is not authorized to perform: {action} (injected fault)"
        self._faults.add(FaultRule(action, code, text, status, times, after))

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._faults.clear()

    def service_state(self, name: str) -> dict[str, Any]:
        """Snapshot of a service: counts, deployments, running digests, event messages."""
        with self._lock:
            return self._parts()[0].snapshot(name)

    def api_healthy(self) -> bool:
        """Whether /healthz would answer healthy now."""
        with self._lock:
            return self._observe().healthy

    def digest_of(self, revision: int) -> str:
        """The digest of the image built for API revision ``revision``."""
        return next(r.digest for r in self.releases if r.revision == revision)

    def service_deployments(self, name: str) -> list[dict[str, Any]]:
        """A service's deployment history, newest first: DescribeServiceDeployments' shape, each with
        ``taskDefinition`` and ``containerImages`` of its target service revision added."""
        with self._lock:
            sim = self._parts()[0]
            records = sim.history.of_service(sim.services[name].service.arn)
            return [{**r.describe(), "taskDefinition": r.target.task_definition,
                     "containerImages": r.target.describe()["containerImages"]} for r in records]

    # -- internals -------------------------------------------------------------------------

    def _parts(self) -> tuple[RolloutSimulator, LogTraffic, BrokerModel]:
        return self._require(self._sim), self._require(self._traffic), self._require(self._broker)

    @staticmethod
    def _require(part: Any) -> Any:
        if part is None:
            raise RuntimeError("the World is not running; use it as a context manager")
        return part

    def _observe(self) -> Observation:
        sim = self._parts()[0]
        api = sim.running(API_SERVICE)
        worker = [t for t in sim.tasks(WORKER_SERVICE) if t.wanted]
        return Observation(
            api_running=len(api),
            api_bad=sum(1 for t in api if sim.behaviour_of(t) != "healthy"),
            worker_ok=sum(1 for t in worker
                          if t.status == "RUNNING" and sim.behaviour_of(t) == "healthy"),
            worker_failing=any(sim.behaviour_of(t) in ("crash-loop", "errors") for t in worker),
        )

    def _speakers(self) -> list[Speaker]:
        sim = self._parts()[0]
        speakers = []
        for name in (API_SERVICE, WORKER_SERVICE):
            for task in sim.tasks(name):
                behaviour = sim.behaviour_of(task)
                if task.status == "RUNNING" or (task.status == "PENDING" and behaviour == "crash-loop"):
                    speakers.append(_speaker(task, behaviour))
        return speakers


def _speaker(task: SimulatedTask, behaviour: Behaviour) -> Speaker:
    container = task.containers[0].name
    group = API_LOG_GROUP if container == API_CONTAINER else WORKER_LOG_GROUP
    return Speaker(group, container, task.id, behaviour)
