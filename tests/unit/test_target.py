"""The rollback target from ECS's deployment history: the contract's rules as pure functions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ops.aws.history import Deployment, History, Revision, RevisionImage, iso, revision_number
from ops.change.diff import plan_diff
from ops.change.target import choose, no_target
from ops.config import load
from tests.helpers import config_with

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)
DIGEST = {n: "sha256:" + str(n) * 64 for n in range(1, 10)}


def deployed(revision: int, status: str = "SUCCESSFUL", day: int = 0) -> Deployment:
    images = (RevisionImage("api", f"repo/api:v{revision}", DIGEST[revision % 10 or 1]),)
    return Deployment(arn=f"arn:deployment/{revision}-{day}", status=status, status_reason="",
                      created_at=T0 + timedelta(days=day), started_at=T0 + timedelta(days=day),
                      finished_at=T0 + timedelta(days=day, minutes=4), target_arn=f"arn:revision/{revision}",
                      revision=Revision(f"arn:revision/{revision}", f"sandbox-broker:{revision}", images))


def history(*deployments: Deployment) -> History:
    return History.known(sorted(deployments, key=lambda d: d.created_at or T0, reverse=True))


PINNED, AUTO = load(config_with()), load(config_with(ecs__api__known_good_revision="auto"))


def test_auto_is_the_newest_successful_deployment_of_another_revision() -> None:
    found = history(deployed(7, day=1), deployed(8, day=2), deployed(9, day=3))
    choice = choose(AUTO, "sandbox-broker:9", found)
    assert (choice.target, choice.source) == ("sandbox-broker:8", "history")
    assert choice.warning is None and choice.last_good is not None


@pytest.mark.parametrize("status", ["ROLLBACK_SUCCESSFUL", "STOPPED", "IN_PROGRESS", "ROLLBACK_FAILED"])
def test_only_successful_counts(status: str) -> None:
    found = history(deployed(7, day=1), deployed(8, status, day=2), deployed(9, day=3))
    assert choose(AUTO, "sandbox-broker:9", found).target == "sandbox-broker:7"


def test_a_redeploy_of_the_current_revision_is_skipped() -> None:
    found = history(deployed(8, day=1), deployed(9, day=2), deployed(9, day=3))
    assert choose(AUTO, "sandbox-broker:9", found).target == "sandbox-broker:8"


def test_no_candidate_means_no_target_and_exit_2_saying_revision() -> None:
    for found in (history(), history(deployed(9, day=1)), None):
        choice = choose(AUTO, "sandbox-broker:9", found, None if found is not None else "cannot read: denied")
        assert (choice.target, choice.source) == (None, "none")
        error = no_target("sandbox-broker", choice)
        assert error.exit_code == 2 and "--revision N" in (error.hint or "")
    assert "cannot read: denied" in no_target("sandbox-broker", choose(AUTO, "x:1", None, "cannot read: denied")).message


def test_a_stale_pin_wins_but_warns_naming_the_newer_good_revision() -> None:
    found = history(deployed(8, day=1), deployed(9, day=2), deployed(10, "SUCCESSFUL", day=3))
    choice = choose(PINNED, "sandbox-broker:10", found)
    assert (choice.target, choice.source) == ("sandbox-broker:8", "config")
    assert choice.warning is not None and choice.warning.startswith("warning:")
    assert "sandbox-broker:9" in choice.warning and "--revision 9" in choice.warning
    assert choose(PINNED, "sandbox-broker:9", history(deployed(8, day=1), deployed(9, day=2))).warning is None


def test_history_queries() -> None:
    found = history(deployed(8, day=1), deployed(9, day=2), deployed(10, "IN_PROGRESS", day=3))
    assert found.in_flight("sandbox-broker:10") is not None and found.in_flight("sandbox-broker:9") is None
    record = found.record_of("sandbox-broker:9")
    assert record is not None and record.digest_of("api") == DIGEST[9]
    assert [d.task_definition for d in found.newest(2)] == ["sandbox-broker:10", "sandbox-broker:9"]
    assert revision_number("sandbox-broker:12") == 12 and revision_number(None) == 0


def test_deployment_json_is_the_contracts() -> None:
    document = deployed(9, day=29).to_json()
    assert document == {"taskDefinition": "sandbox-broker:9", "status": "SUCCESSFUL", "startedAt": "2026-11-30T00:00:00Z",
                        "finishedAt": "2026-11-30T00:04:00Z",
                        "images": [{"container": "api", "image": "repo/api:v9", "digest": DIGEST[9]}]}
    assert iso(datetime(2026, 1, 1, 12, 0, 0)) == "2026-01-01T12:00:00Z"
    assert iso(datetime(2026, 1, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))) == "2026-01-01T12:00:00Z"


def _td(image: str, version: str, cpu: str = "256", command: list[str] | None = None) -> dict:
    container = {"name": "api", "image": image, "environment": [
        {"name": "APP_VERSION", "value": version}, {"name": "DB_PASSWORD", "value": f"pw-{version}"}]}
    if command:
        container["command"] = command
    return {"cpu": cpu, "memory": "512", "containerDefinitions": [container]}


def test_plan_diff_shows_images_digests_environment_cpu_and_command_with_secrets_masked() -> None:
    current = _td("e/repo/api:v9", "v9")
    target = _td("e/repo/api:v8", "v8", cpu="512", command=["serve"])
    target["containerDefinitions"][0]["environment"].append({"name": "NEW_FLAG", "value": "1"})
    lines = plan_diff("sandbox-broker:9", "sandbox-broker:8", current, target, {"api": {DIGEST[9]}}, {"api": DIGEST[8]})
    assert lines[0] == "diff: sandbox-broker:9 (running now) -> sandbox-broker:8"
    text = "\n".join(lines)
    assert "api image: api:v9 (999999999999) -> api:v8 (888888888888)" in text
    assert "api environment added: NEW_FLAG" in text
    assert "APP_VERSION 'v9' -> 'v8'" in text and "DB_PASSWORD (secret, not shown)" in text
    assert "pw-" not in text
    assert "api command: (unset) -> ['serve']" in text and "task cpu: 256 -> 512" in text


def test_plan_diff_identical_and_moved_tag() -> None:
    same = _td("e/repo/api:latest", "v9")
    assert plan_diff("a:9", "a:8", same, same) == ["diff: a:9 and a:8 are identical (images, environment, command, cpu, memory)"]
    moved = plan_diff("a:9", "a:8", same, same, {"api": {DIGEST[9]}}, {"api": DIGEST[9]})
    assert "  api image: api:latest (999999999999), the same digest" in moved
    back = plan_diff("a:9", "a:8", same, same, {"api": {DIGEST[9]}}, {"api": DIGEST[8]})
    assert "  api image: api:latest (999999999999) -> api:latest (888888888888)" in back
