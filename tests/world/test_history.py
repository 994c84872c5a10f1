"""ECS service deployment history answered by the world over HTTP: shapes (against botocore's ECS
model), pagination, errors and the status transitions ECS documents."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from ops.sandbox import World
from tests.world.helpers import (
    API,
    CLUSTER,
    ROLLOUT,
    WORKER,
    Cli,
    client,
    describe,
    raw_answer,
    running_digests,
    shape_errors,
    wait_for,
)

MODEL = botocore.session.get_session().get_service_model("ecs")
ARN = r"arn:aws:ecs:eu-central-1:123456789012:{kind}/sandbox-broker-cluster/{service}/{id}"
DEPLOYMENT_ARN = re.compile(ARN.format(kind="service-deployment", service="[a-z-]+", id=r"[A-Za-z0-9_-]{21}"))
REVISION_ARN = re.compile(ARN.format(kind="service-revision", service="[a-z-]+", id=r"\d{19}"))


def history(ecs: BaseClient, service: str = API, **filters: Any) -> list[dict[str, Any]]:
    return ecs.list_service_deployments(cluster=CLUSTER, service=service, **filters)["serviceDeployments"]


def deployment(ecs: BaseClient, arn: str) -> dict[str, Any]:
    [found] = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    return found


def revision(ecs: BaseClient, arn: str) -> dict[str, Any]:
    [found] = ecs.describe_service_revisions(serviceRevisionArns=[arn])["serviceRevisions"]
    return found


def task_definition_of(ecs: BaseClient, deployment_arn: str) -> str:
    target = deployment(ecs, deployment_arn)["targetServiceRevision"]["arn"]
    return revision(ecs, target)["taskDefinition"].rsplit("/", 1)[1]


def status_when(ecs: BaseClient, arn: str, statuses: set[str], timeout: float = 10) -> dict[str, Any]:
    """Poll DescribeServiceDeployments until the deployment's status is one of ``statuses``."""
    return wait_for(lambda: (d := deployment(ecs, arn))["status"] in statuses and d, timeout)


def newest_arn(ecs: BaseClient) -> str:
    return history(ecs)[0]["serviceDeploymentArn"]


def error_code(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return raised.value.response["Error"]["Code"]


# ------------------------------------------------------------------ the seeded history, its shapes


def test_seeded_history_newest_first_with_recorded_digests(world: World, ecs: BaseClient) -> None:
    listed = history(ecs)
    assert [d["status"] for d in listed] == ["SUCCESSFUL"] * 3
    assert [task_definition_of(ecs, d["serviceDeploymentArn"]) for d in listed] == [
        "sandbox-broker:9", "sandbox-broker:8", "sandbox-broker:7"]
    assert [d["createdAt"] for d in listed] == sorted((d["createdAt"] for d in listed), reverse=True)
    for brief in listed:
        assert DEPLOYMENT_ARN.fullmatch(brief["serviceDeploymentArn"]) and REVISION_ARN.fullmatch(
            brief["targetServiceRevisionArn"])
        assert brief["createdAt"] <= brief["startedAt"] < brief["finishedAt"]
        assert brief["serviceArn"] == f"arn:aws:ecs:eu-central-1:{world.account_id}:service/{CLUSTER}/{API}"
    for brief, built in zip(listed, (9, 8, 7), strict=True):
        images = revision(ecs, brief["targetServiceRevisionArn"])["containerImages"]
        repository = f"{world.account_id}.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api"
        assert images == [{"containerName": "sandbox-broker-api", "imageDigest": world.digest_of(built),
                           "image": f"{repository}:v{built}"}]
    current = deployment(ecs, listed[0]["serviceDeploymentArn"])
    assert [s["arn"] for s in current["sourceServiceRevisions"]] == [listed[1]["targetServiceRevisionArn"]]
    assert current["targetServiceRevision"] == {"arn": listed[0]["targetServiceRevisionArn"], "requestedTaskCount": 2,
                                                "runningTaskCount": 2, "pendingTaskCount": 0}
    assert current["deploymentCircuitBreaker"] == {"status": "MONITORING_COMPLETE", "failureCount": 0, "threshold": 3}
    assert current["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": False}
    assert deployment(ecs, listed[2]["serviceDeploymentArn"])["sourceServiceRevisions"] == []
    [worker] = history(ecs, WORKER)
    assert worker["status"] == "SUCCESSFUL"
    assert task_definition_of(ecs, worker["serviceDeploymentArn"]) == "sandbox-broker-worker:1"


def test_world_exposes_the_same_history(world: World, ecs: BaseClient) -> None:
    seen = world.service_deployments(API)
    assert [d["serviceDeploymentArn"] for d in seen] == [d["serviceDeploymentArn"] for d in history(ecs)]
    assert [d["taskDefinition"].rsplit("/", 1)[1] for d in seen] == [f"sandbox-broker:{n}" for n in (9, 8, 7)]
    assert seen[1]["containerImages"][0]["imageDigest"] == world.digest_of(8)
    primary = world.service_state(API)["deployments"][0]
    assert primary["serviceDeploymentArn"] == seen[0]["serviceDeploymentArn"]
    assert primary["serviceRevisionArn"] == seen[0]["targetServiceRevision"]["arn"]


def test_describe_services_names_the_current_deployment_and_revisions(world: World, ecs: BaseClient) -> None:
    service = describe(ecs, API)
    newest = history(ecs)[0]
    assert service["currentServiceDeployment"] == newest["serviceDeploymentArn"]
    assert service["currentServiceRevisions"] == [{"arn": newest["targetServiceRevisionArn"], "requestedTaskCount": 2,
                                                   "runningTaskCount": 2, "pendingTaskCount": 0}]
    world.set_behaviour(API, 8, "stuck")
    rolling = ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")["service"]
    assert rolling["currentServiceDeployment"] == newest_arn(ecs) != newest["serviceDeploymentArn"]
    assert [r["arn"] for r in rolling["currentServiceRevisions"]] == [
        history(ecs)[0]["targetServiceRevisionArn"], newest["targetServiceRevisionArn"]]


@pytest.mark.parametrize("operation", ["ListServiceDeployments", "DescribeServiceDeployments",
                                       "DescribeServiceRevisions"])
def test_answers_match_the_ecs_model(world: World, ecs: BaseClient, operation: str) -> None:
    world.set_behaviour(API, 8, "stuck")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")  # one in flight too
    listed = history(ecs)
    params: dict[str, dict[str, Any]] = {
        "ListServiceDeployments": {"cluster": CLUSTER, "service": API},
        "DescribeServiceDeployments": {"serviceDeploymentArns": [d["serviceDeploymentArn"] for d in listed]},
        "DescribeServiceRevisions": {"serviceRevisionArns": [d["targetServiceRevisionArn"] for d in listed]},
    }
    raw = raw_answer(ecs, operation, **params[operation])
    assert shape_errors(raw, MODEL.operation_model(operation).output_shape) == []
    assert len(next(iter(raw.values()))) == 4


# ------------------------------------------------------------------ listing: pagination and filters


def test_pagination_by_max_results_and_the_default_page_of_20(world: World, ecs: BaseClient) -> None:
    for _ in range(18):  # each forced deployment supersedes the one before: 21 in all
        ecs.update_service(cluster=CLUSTER, service=API, forceNewDeployment=True)
    everything = [d["serviceDeploymentArn"] for d in world.service_deployments(API)]
    assert len(everything) == 21
    pages, token = [], None
    while True:
        page = ecs.list_service_deployments(cluster=CLUSTER, service=API, maxResults=8,
                                            **({"nextToken": token} if token else {}))
        pages.append([d["serviceDeploymentArn"] for d in page["serviceDeployments"]])
        token = page.get("nextToken")
        if token is None:
            break
    assert [len(p) for p in pages] == [8, 8, 5]
    assert [arn for p in pages for arn in p] == everything
    first = ecs.list_service_deployments(cluster=CLUSTER, service=API)
    assert len(first["serviceDeployments"]) == 20 and first["nextToken"]
    rest = ecs.list_service_deployments(cluster=CLUSTER, service=API, nextToken=first["nextToken"])
    assert [d["serviceDeploymentArn"] for d in rest["serviceDeployments"]] == everything[20:]
    assert "nextToken" not in rest


def test_filters_by_status_and_creation_time(world: World, ecs: BaseClient) -> None:
    ecs.update_service(cluster=CLUSTER, service=API, forceNewDeployment=True)
    ecs.update_service(cluster=CLUSTER, service=API, forceNewDeployment=True)
    assert [d["status"] for d in history(ecs, status=["STOPPED"])] == ["STOPPED"]
    assert len(history(ecs, status=["SUCCESSFUL"])) == 3
    assert len(history(ecs, status=["SUCCESSFUL", "STOPPED"])) == 4
    seeded = history(ecs, status=["SUCCESSFUL"])
    eight = seeded[1]["createdAt"]
    window = history(ecs, createdAt={"after": seeded[2]["createdAt"].timestamp() + 1, "before": seeded[0]["createdAt"]})
    assert [d["serviceDeploymentArn"] for d in window] == [seeded[1]["serviceDeploymentArn"]]
    assert [d["createdAt"] for d in history(ecs, createdAt={"before": eight + timedelta(seconds=1)})][0] == eight


# ------------------------------------------------------------------ errors, as ECS answers them


def test_errors_for_unknown_things_and_bad_parameters(world: World, ecs: BaseClient) -> None:
    loose = client(world, "ecs", validate=False)
    assert error_code(ecs.list_service_deployments, cluster="nope", service=API) == "ClusterNotFoundException"
    assert error_code(ecs.list_service_deployments, cluster=CLUSTER, service="nope") == "ServiceNotFoundException"
    assert error_code(loose.list_service_deployments, cluster=CLUSTER) == "InvalidParameterException"
    for bad in (0, 101):
        assert error_code(ecs.list_service_deployments, cluster=CLUSTER, service=API, maxResults=bad) \
            == "InvalidParameterException"
    assert error_code(ecs.list_service_deployments, cluster=CLUSTER, service=API, nextToken="garbage") \
        == "InvalidParameterException"
    assert error_code(loose.list_service_deployments, cluster=CLUSTER, service=API, status=["FINE"]) \
        == "InvalidParameterException"
    known = newest_arn(ecs)
    assert error_code(ecs.describe_service_deployments, serviceDeploymentArns=[known] * 21) \
        == "InvalidParameterException"
    assert error_code(ecs.describe_service_revisions, serviceRevisionArns=[known] * 21) \
        == "InvalidParameterException"
    unknown = known[:-3] + "zzz"
    answer = ecs.describe_service_deployments(serviceDeploymentArns=[known, unknown])
    assert [d["serviceDeploymentArn"] for d in answer["serviceDeployments"]] == [known]
    assert answer["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    assert ecs.describe_service_revisions(serviceRevisionArns=[unknown])["failures"] == [
        {"arn": unknown, "reason": "MISSING"}]
    assert error_code(ecs.stop_service_deployment, serviceDeploymentArn=unknown, stopType="ROLLBACK") \
        == "ServiceDeploymentNotFoundException"
    assert error_code(ecs.stop_service_deployment, serviceDeploymentArn="not-an-arn", stopType="ROLLBACK") \
        == "InvalidParameterException"
    with pytest.raises(ClientError) as raised:
        ecs.stop_service_deployment(serviceDeploymentArn=known, stopType="ROLLBACK")
    assert raised.value.response["Error"]["Code"] == "ConflictException"  # SUCCESSFUL: nothing to stop
    assert "SUCCESSFUL" in raised.value.response["Error"]["Message"]
    assert describe(ecs, API)["taskDefinition"].endswith(":9") and len(history(ecs)) == 3


def test_stop_type_abort_is_refused_as_ecs_documents(world: World, ecs: BaseClient) -> None:
    world.set_behaviour(API, 8, "stuck")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    arn = newest_arn(ecs)
    assert error_code(ecs.stop_service_deployment, serviceDeploymentArn=arn, stopType="ABORT") \
        == "InvalidParameterException"
    assert deployment(ecs, arn)["status"] in ("PENDING", "IN_PROGRESS")


# ------------------------------------------------------------------ status transitions


def test_a_rollout_goes_in_progress_then_successful(world: World, ecs: BaseClient) -> None:
    previous = history(ecs)[0]
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    arn = newest_arn(ecs)
    assert deployment(ecs, arn)["status"] in ("PENDING", "IN_PROGRESS")
    rolling = status_when(ecs, arn, {"IN_PROGRESS"})
    assert "finishedAt" not in rolling and rolling["deploymentCircuitBreaker"]["status"] == "MONITORING"
    assert [s["arn"] for s in rolling["sourceServiceRevisions"]] == [previous["targetServiceRevisionArn"]]
    done = status_when(ecs, arn, {"SUCCESSFUL"})
    assert done["startedAt"] <= done["finishedAt"]
    assert done["targetServiceRevision"]["runningTaskCount"] == 2
    assert done["sourceServiceRevisions"][0]["runningTaskCount"] == 0
    images = revision(ecs, done["targetServiceRevision"]["arn"])["containerImages"]
    assert images[0]["imageDigest"] == world.digest_of(8)
    assert history(ecs)[1]["serviceDeploymentArn"] == previous["serviceDeploymentArn"]


def test_a_deployment_superseded_before_it_finished_is_stopped(world: World, ecs: BaseClient) -> None:
    world.set_behaviour(API, 8, "stuck")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    stuck = newest_arn(ecs)
    status_when(ecs, stuck, {"IN_PROGRESS"})
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:7")
    newer = newest_arn(ecs)
    stopped = deployment(ecs, stuck)
    assert stopped["status"] == "STOPPED" and newer in stopped["statusReason"]
    assert stopped["stoppedAt"] == stopped["finishedAt"]
    done = status_when(ecs, newer, {"SUCCESSFUL"})
    assert len(done["sourceServiceRevisions"]) == 2  # :8's (never ran) and :9's revisions
    assert [d["status"] for d in history(ecs)][:2] == ["SUCCESSFUL", "STOPPED"]


def test_breaker_without_rollback_stops_the_deployment(world: World, ecs: BaseClient) -> None:
    world.set_behaviour(API, 8, "crash-loop")
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    stopped = status_when(ecs, newest_arn(ecs), {"STOPPED"})
    assert stopped["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert stopped["deploymentCircuitBreaker"]["failureCount"] >= stopped["deploymentCircuitBreaker"]["threshold"] == 3
    assert "circuit breaker" in stopped["statusReason"] and "rollback" not in stopped
    assert describe(ecs, API)["deployments"][0]["rolloutState"] == "FAILED"


def test_breaker_with_rollback_goes_rollback_in_progress_then_successful() -> None:
    with World(rollout_seconds=ROLLOUT, circuit_breaker_rollback=True) as world:
        ecs = client(world, "ecs")
        good = history(ecs)[0]["targetServiceRevisionArn"]
        world.set_behaviour(API, 7, "crash-loop")
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:7")
        arn = newest_arn(ecs)
        rolling = status_when(ecs, arn, {"ROLLBACK_IN_PROGRESS"})
        assert rolling["rollback"]["serviceRevisionArn"] == good
        assert "Circuit breaker" in rolling["rollback"]["reason"] and rolling["rollback"]["startedAt"]
        done = status_when(ecs, arn, {"ROLLBACK_SUCCESSFUL"})
        assert done["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
        assert describe(ecs, API)["taskDefinition"].endswith(":9")
        assert newest_arn(ecs) == arn  # the rollback belongs to the failed deployment: no new entry


def test_stop_service_deployment_rolls_back_to_the_source_revision(world: World, ecs: BaseClient) -> None:
    world.set_behaviour(API, 8, "stuck")
    source = history(ecs)[0]["targetServiceRevisionArn"]
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
    arn = newest_arn(ecs)
    status_when(ecs, arn, {"IN_PROGRESS"})
    assert ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")["serviceDeploymentArn"] == arn
    assert deployment(ecs, arn)["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
    rolling = status_when(ecs, arn, {"ROLLBACK_IN_PROGRESS"})
    assert rolling["rollback"]["serviceRevisionArn"] == source
    assert ecs.stop_service_deployment(serviceDeploymentArn=arn)["serviceDeploymentArn"] == arn  # carries on
    status_when(ecs, arn, {"ROLLBACK_SUCCESSFUL"})
    assert world.settle(timeout=10)
    service = describe(ecs, API)
    assert service["taskDefinition"].endswith(":9") and len(service["deployments"]) == 1
    assert running_digests(ecs, API) == [world.digest_of(9)] * 2
    assert error_code(ecs.stop_service_deployment, serviceDeploymentArn=arn, stopType="ROLLBACK") == "ConflictException"


def test_native_rollback_restores_recorded_digests_past_a_moved_latest_tag() -> None:
    """latest-tag-moved: a good build 8 was running as :latest (recorded by digest); :latest moves to
    the bad build 9 and a deployment picks it up; StopServiceDeployment(ROLLBACK) runs build 8 again,
    where a redeploy of the same task definition would resolve :latest to build 9."""
    with World(scenario="latest-tag-moved", rollout_seconds=ROLLOUT) as world:
        ecs, ecr = client(world, "ecs"), client(world, "ecr")
        builds = {n: (_manifest(ecr, world.digest_of(n)), world.digest_of(n)) for n in (8, 9)}
        _push_latest(ecr, *builds[8])
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8", forceNewDeployment=True)
        good = newest_arn(ecs)
        status_when(ecs, good, {"SUCCESSFUL"})
        assert world.settle(timeout=10) and world.api_healthy()
        _push_latest(ecr, *builds[9])  # a bad build is pushed as :latest
        world.set_behaviour(API, 8, "stuck")  # ... and the deployment that picks it up hangs
        ecs.update_service(cluster=CLUSTER, service=API, forceNewDeployment=True)
        bad = newest_arn(ecs)
        target = deployment(ecs, bad)["targetServiceRevision"]["arn"]
        assert revision(ecs, target)["containerImages"][0]["imageDigest"] == world.digest_of(9)
        status_when(ecs, bad, {"IN_PROGRESS"})
        world.clear_behaviour(API, 8)  # tasks behave by the build they run again: build 9 serves errors
        ecs.stop_service_deployment(serviceDeploymentArn=bad, stopType="ROLLBACK")
        status_when(ecs, bad, {"ROLLBACK_SUCCESSFUL"})
        assert world.settle(timeout=10)
        assert running_digests(ecs, API) == [world.digest_of(8)] * 2
        assert world.api_healthy()
        assert requests.get(f"{world.api_url}/healthz", timeout=5).json()["status"] == "healthy"


def _manifest(ecr: BaseClient, digest: str) -> str:
    [image] = ecr.batch_get_image(repositoryName="sandbox-broker-api", imageIds=[{"imageDigest": digest}])["images"]
    return str(image["imageManifest"])


def _push_latest(ecr: BaseClient, manifest: str, digest: str) -> None:
    """`docker push ...:latest` of a build: the image the tag leaves stays, untagged (as in ECR)."""
    ecr.put_image(repositoryName="sandbox-broker-api", imageManifest=manifest, imageDigest=digest, imageTag="latest")


# ------------------------------------------------------------------ the AWS CLI v1


def test_aws_cli_lists_deployments_and_describes_revisions(world: World, tmp_path: Path) -> None:
    cli = Cli(world, tmp_path)
    where = "--region eu-central-1 --profile okta-sso"
    listed = cli.json(f"aws ecs list-service-deployments --cluster {CLUSTER} --service {API} {where}")
    statuses = [d["status"] for d in listed["serviceDeployments"]]
    assert statuses == ["SUCCESSFUL"] * 3
    arns = " ".join(d["targetServiceRevisionArn"] for d in listed["serviceDeployments"])
    revisions = cli.json(f"aws ecs describe-service-revisions --service-revision-arns {arns} {where}")
    assert [r["taskDefinition"].rsplit(":", 1)[1] for r in revisions["serviceRevisions"]] == ["9", "8", "7"]
    assert revisions["serviceRevisions"][1]["containerImages"][0]["imageDigest"] == world.digest_of(8)
    assert revisions["failures"] == []
    paged = cli.json(f"aws ecs list-service-deployments --cluster {CLUSTER} --service {API} --max-results 2 {where}")
    assert len(paged["serviceDeployments"]) == 2 and paged["nextToken"]
    missing = cli.run(f"aws ecs list-service-deployments --cluster {CLUSTER} --service nope {where}")
    assert missing.returncode != 0 and "ServiceNotFoundException" in missing.stderr


def test_aws_cli_rolls_a_release_in_flight_back(tmp_path: Path) -> None:
    """The contract's native rollback as an operator types it: find the IN_PROGRESS deployment, stop it."""
    with World(scenario="release-in-flight", rollout_seconds=ROLLOUT) as world:
        cli = Cli(world, tmp_path)
        where = "--region eu-central-1 --profile okta-sso"
        listed = cli.json(f"aws ecs list-service-deployments --cluster {CLUSTER} --service {API} "
                          f"--status IN_PROGRESS {where}")
        [arn] = [d["serviceDeploymentArn"] for d in listed["serviceDeployments"]]
        stop = f"aws ecs stop-service-deployment --service-deployment-arn {arn} --stop-type ROLLBACK {where}"
        assert cli.json(stop) == {"serviceDeploymentArn": arn}
        status = f"aws ecs describe-service-deployments --service-deployment-arns {arn} " \
                 f"--query serviceDeployments[0].status {where}"
        cli.poll(status, "ROLLBACK_SUCCESSFUL", timeout=15)
        again = cli.run(stop)
        assert again.returncode != 0 and "ConflictException" in again.stderr
        assert describe(client(world, "ecs"), API)["taskDefinition"].endswith(":9")
