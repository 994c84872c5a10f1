"""The Rollback Decision Tree as a pure function: every branch from signals, in milliseconds."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ops.checks.decision import (
    ESTIMATES,
    LOG_ERRORS_LIMIT,
    SYMPTOMS,
    Health,
    Recommendation,
    ServiceSignal,
    Signals,
    decide,
)
from ops.errors import UsageError

FINE = ServiceSignal(desired=2, running=2, failed_tasks=0, rollout_state="COMPLETED", deployments=1,
                     task_definition="sandbox-broker:9", log_errors=0)
HEALTHY = Health(True, "HTTP 200 healthy", 0.01)
UNHEALTHY = Health(False, "HTTP 503: unhealthy", 0.01)


def signals(healthz: Health = HEALTHY, api: ServiceSignal = FINE, worker: ServiceSignal = FINE) -> Signals:
    return Signals(healthz=healthz, api=api, worker=worker, window_seconds=300, metrics={"ok": True})


CRASHING = replace(FINE, desired=1, running=0, failed_tasks=9)
STOPPED = replace(FINE, desired=0, running=0)
NOISY = replace(FINE, log_errors=LOG_ERRORS_LIMIT)


@pytest.mark.parametrize(
    ("given", "symptom", "expected", "words"),
    [
        (signals(), None, Recommendation.NONE, ["health check passes"]),
        (signals(healthz=UNHEALTHY), None, Recommendation.OPTION1, ["/healthz is not healthy", "option 1"]),
        (signals(api=NOISY), None, Recommendation.OPTION1, [f"{LOG_ERRORS_LIMIT} error lines"]),
        (signals(api=replace(FINE, rollout_state="FAILED")), None, Recommendation.OPTION1, ["rollout failed"]),
        (signals(worker=CRASHING), None, Recommendation.OPTION3, ["worker failing", "9 failed tasks", "running 0 of 1"]),
        (signals(healthz=UNHEALTHY, worker=CRASHING), None, Recommendation.OPTION4, ["api failing", "worker failing"]),
        (signals(worker=STOPPED), None, Recommendation.RESTART_WORKER, ["worker is stopped"]),
        (signals(worker=STOPPED), "jobs-not-running", Recommendation.RESTART_WORKER, ["jobs-not-running"]),
        (signals(worker=CRASHING), "jobs-not-running", Recommendation.OPTION3, ["may need option 3"]),
        (signals(), "jobs-not-running", Recommendation.NONE, ["check its logs"]),
        (signals(), "rate-limiting", Recommendation.OPTION1, ["rate limiter"]),
        (signals(), "cors", Recommendation.OPTION1, ["cors config"]),
        (signals(worker=CRASHING), "metrics-slow", Recommendation.OPTION1, ["metrics caching"]),
        (signals(), "api-errors", Recommendation.NONE, []),
    ],
)
def test_each_branch(given: Signals, symptom: str | None, expected: Recommendation, words: list[str]) -> None:
    recommendation, reasons = decide(given, symptom)
    assert recommendation is expected
    text = " ".join(reasons).lower()
    assert all(word in text for word in words), text


def test_a_few_errors_or_unreadable_logs_do_not_make_a_service_failing() -> None:
    assert decide(signals(api=replace(FINE, log_errors=LOG_ERRORS_LIMIT - 1)))[0] is Recommendation.NONE
    assert decide(signals(api=replace(FINE, log_errors="unreadable: ClientError")))[0] is Recommendation.NONE


def test_a_stopped_worker_with_a_failing_api_is_option1_not_restart() -> None:
    assert decide(signals(healthz=UNHEALTHY, worker=STOPPED))[0] is Recommendation.OPTION1


def test_unknown_symptom_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        decide(signals(), "bogus")
    assert caught.value.exit_code == 2 and all(s in (caught.value.hint or "") for s in SYMPTOMS)


def test_codes_are_the_contracts_and_serialise_as_strings() -> None:
    assert {r.value for r in Recommendation} == {"none", "option1", "option2", "option3", "option4", "restart-worker"}
    assert json.dumps({"recommendation": Recommendation.OPTION2}) == '{"recommendation": "option2"}'
    assert set(ESTIMATES) == set(Recommendation)
    assert Recommendation.OPTION4.estimate.total == 480 and Recommendation.OPTION1.estimate.execute == 120


def test_signals_json_keeps_the_contract_keys() -> None:
    document = signals().to_json()
    assert set(document) == {"healthz", "metrics", "api", "worker", "windowSeconds"}
    assert set(document["api"]) == {"desired", "running", "failedTasks", "rolloutState", "deployments",
                                    "taskDefinition", "logErrors"}
