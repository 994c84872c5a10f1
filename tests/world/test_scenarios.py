"""The deployment-history scenarios, through boto3 over HTTP: next-release-failing,
release-in-flight and target-image-expired (and pull failures in general)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from ops.sandbox import World
from tests.world.helpers import API, CLUSTER, ROLLOUT, client, describe, describe_when, running_digests, wait_for


def history(ecs: BaseClient) -> list[dict[str, Any]]:
    """The API's deployments, newest first, described, each with its target task definition and digest."""
    listed = ecs.list_service_deployments(cluster=CLUSTER, service=API)["serviceDeployments"]
    described = ecs.describe_service_deployments(serviceDeploymentArns=[d["serviceDeploymentArn"] for d in listed])
    revisions = ecs.describe_service_revisions(serviceRevisionArns=[d["targetServiceRevisionArn"] for d in listed])
    for entry, revision in zip(described["serviceDeployments"], revisions["serviceRevisions"], strict=True):
        entry["taskDefinition"] = revision["taskDefinition"].rsplit("/", 1)[1]
        entry["digest"] = revision["containerImages"][0].get("imageDigest")
        entry["image"] = revision["containerImages"][0]["image"]
    return described["serviceDeployments"]


def last_good(deployments: list[dict[str, Any]], current: str) -> str | None:
    """The contract's rule: the newest SUCCESSFUL deployment whose task definition is not the current one."""
    return next((d["taskDefinition"] for d in deployments
                 if d["status"] == "SUCCESSFUL" and d["taskDefinition"] != current), None)


def healthz(world: World) -> str:
    return str(requests.get(f"{world.api_url}/healthz", timeout=5).json()["status"])


# ------------------------------------------------------------------ next-release-failing


def test_next_release_failing_has_a_successful_bad_10_and_a_good_9() -> None:
    with World(scenario="next-release-failing", rollout_seconds=ROLLOUT) as world:
        ecs = client(world, "ecs")
        service = describe(ecs, API)
        (primary,) = service["deployments"]
        assert service["taskDefinition"].endswith(":10") and primary["rolloutState"] == "COMPLETED"
        assert running_digests(ecs, API) == [world.digest_of(10)] * 2 and healthz(world) == "unhealthy"
        deployments = history(ecs)
        assert [(d["taskDefinition"], d["status"]) for d in deployments] == [
            (f"sandbox-broker:{n}", "SUCCESSFUL") for n in (10, 9, 8, 7)]
        assert [d["digest"] for d in deployments] == [world.digest_of(n) for n in (10, 9, 8, 7)]
        assert last_good(deployments, "sandbox-broker:10") == "sandbox-broker:9"  # not the pinned 8
        images = client(world, "ecr").describe_images(repositoryName="sandbox-broker-api")["imageDetails"]
        assert len(images) == 10
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:9")
        assert world.settle(timeout=10) and healthz(world) == "healthy"
        assert [d["status"] for d in history(ecs)[:2]] == ["SUCCESSFUL", "SUCCESSFUL"]


def test_latest_tag_moved_history_records_the_builds_that_ran_then() -> None:
    with World(scenario="latest-tag-moved", rollout_seconds=ROLLOUT) as world:
        deployments = history(client(world, "ecs"))
        assert [d["taskDefinition"] for d in deployments] == [f"sandbox-broker:{n}" for n in (9, 8, 7)]
        assert {d["image"].rsplit(":", 1)[1] for d in deployments} == {"latest"}
        assert [d["digest"] for d in deployments] == [world.digest_of(n) for n in (9, 8, 7)]  # not :latest's now


# ------------------------------------------------------------------ release-in-flight


def test_release_in_flight_stays_in_progress_past_the_breaker_threshold() -> None:
    """No circuit breaker on the API service: ECS never fails the crash-looping rollout by itself."""
    with World(scenario="release-in-flight", rollout_seconds=ROLLOUT) as world:
        ecs = client(world, "ecs")
        service = describe(ecs, API)
        assert service["taskDefinition"].endswith(":10")
        assert service["deploymentConfiguration"]["deploymentCircuitBreaker"]["enable"] is False
        primary, old = service["deployments"]
        assert (primary["status"], primary["rolloutState"], primary["runningCount"]) == ("PRIMARY", "IN_PROGRESS", 0)
        assert primary["failedTasks"] >= 6 and primary["taskDefinition"].endswith(":10")
        assert (old["status"], old["runningCount"], old["taskDefinition"][-2:]) == ("ACTIVE", 2, ":9")
        assert healthz(world) == "healthy"  # :9's tasks still serve
        flight = history(ecs)
        assert [(d["taskDefinition"], d["status"]) for d in flight] == [
            ("sandbox-broker:10", "IN_PROGRESS"), ("sandbox-broker:9", "SUCCESSFUL"),
            ("sandbox-broker:8", "SUCCESSFUL"), ("sandbox-broker:7", "SUCCESSFUL")]
        assert flight[0]["deploymentCircuitBreaker"]["status"] == "DISABLED"
        assert [s["arn"] for s in flight[0]["sourceServiceRevisions"]] == [flight[1]["targetServiceRevision"]["arn"]]
        threshold = flight[0]["deploymentCircuitBreaker"]["threshold"]
        enough = primary["failedTasks"] + threshold
        later = describe_when(ecs, API, lambda s: s["deployments"][0]["failedTasks"] >= enough)
        assert later["deployments"][0]["rolloutState"] == "IN_PROGRESS"  # an enabled breaker would have failed it
        assert history(ecs)[0]["status"] == "IN_PROGRESS"
        stopped = ecs.list_tasks(cluster=CLUSTER, serviceName=API, desiredStatus="STOPPED")["taskArns"]
        reasons = {t["stopCode"] for t in ecs.describe_tasks(cluster=CLUSTER, tasks=stopped)["tasks"]}
        assert reasons == {"EssentialContainerExited"}
        errors = client(world, "logs").filter_log_events(logGroupName="/ecs/sandbox-broker-api",
                                                          filterPattern="ERROR")["events"]
        assert any("exited with status 1" in e["message"] for e in errors)


def test_release_in_flight_rolls_back_natively_to_9() -> None:
    with World(scenario="release-in-flight", rollout_seconds=3.0) as world:  # the drill's rollout time
        ecs = client(world, "ecs")
        in_flight = ecs.list_service_deployments(cluster=CLUSTER, service=API, status=["IN_PROGRESS"])
        [arn] = [d["serviceDeploymentArn"] for d in in_flight["serviceDeployments"]]
        ecs.stop_service_deployment(serviceDeploymentArn=arn, stopType="ROLLBACK")
        done = wait_for(lambda: (d := history(ecs)[0])["status"] == "ROLLBACK_SUCCESSFUL" and d, 20)
        assert done["serviceDeploymentArn"] == arn and done["rollback"]["serviceRevisionArn"] == history(ecs)[1][
            "targetServiceRevision"]["arn"]
        assert world.settle(timeout=20)
        service = describe(ecs, API)
        assert service["taskDefinition"].endswith(":9") and len(service["deployments"]) == 1
        assert running_digests(ecs, API) == [world.digest_of(9)] * 2 and healthz(world) == "healthy"


# ------------------------------------------------------------------ target-image-expired and pull failures


def test_target_image_expired_by_a_lifecycle_policy() -> None:
    with World(scenario="target-image-expired", rollout_seconds=ROLLOUT) as world:
        ecs, ecr = client(world, "ecs"), client(world, "ecr")
        images = ecr.describe_images(repositoryName="sandbox-broker-api")["imageDetails"]
        assert [i["imageDigest"] for i in images] == [world.digest_of(9)]
        assert "imageCountMoreThan" in ecr.get_lifecycle_policy(repositoryName="sandbox-broker-api")[
            "lifecyclePolicyText"]
        with pytest.raises(ClientError) as raised:
            ecr.describe_images(repositoryName="sandbox-broker-api", imageIds=[{"imageTag": "v8"}])
        assert raised.value.response["Error"]["Code"] == "ImageNotFoundException"
        assert history(ecs)[1]["digest"] == world.digest_of(8)  # recorded when :8 was deployed
        ecs.update_service(cluster=CLUSTER, service=API, taskDefinition="sandbox-broker:8")
        failed = describe_when(ecs, API, lambda s: s["deployments"][0]["rolloutState"] == "FAILED")
        assert failed["deployments"][0]["runningCount"] == 0 and failed["runningCount"] == 2  # :9 still runs
        settled = describe_when(ecs, API, lambda s: s["deployments"][0]["pendingCount"] == 0)  # no new launches
        assert settled["deployments"][0]["failedTasks"] == describe(ecs, API)["deployments"][0]["failedTasks"]
        _assert_cannot_pull(ecs, ":v8")
        newest = history(ecs)[0]
        assert (newest["taskDefinition"], newest["status"], newest["digest"]) == ("sandbox-broker:8", "STOPPED", None)
        assert healthz(world) == "unhealthy"


def test_an_image_that_is_not_in_ecr_fails_to_start(world: World) -> None:
    ecs = client(world, "ecs")
    taskdef = ecs.describe_task_definition(taskDefinition="sandbox-broker:8")["taskDefinition"]
    original = taskdef["containerDefinitions"][0]
    container = dict(original, image=original["image"].rsplit(":", 1)[0] + ":v99")
    new = ecs.register_task_definition(family="sandbox-broker", containerDefinitions=[container])["taskDefinition"]
    ecs.update_service(cluster=CLUSTER, service=API, taskDefinition=new["taskDefinitionArn"])
    describe_when(ecs, API, lambda s: s["deployments"][0]["failedTasks"] >= 1)
    _assert_cannot_pull(ecs, ":v99")
    assert running_digests(ecs, API) == [world.digest_of(9)] * 2


def _assert_cannot_pull(ecs: BaseClient, tag: str) -> None:
    stopped = ecs.list_tasks(cluster=CLUSTER, serviceName=API, desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=stopped)["tasks"]
    assert tasks and all(t["stopCode"] == "TaskFailedToStart" for t in tasks)
    assert all(t["stoppedReason"].startswith("CannotPullContainerError: ") and tag in t["stoppedReason"]
               for t in tasks)
    assert not any("startedAt" in t for t in tasks)  # they never ran
    assert all(c["reason"].startswith("CannotPullContainerError") for t in tasks for c in t["containers"])
