"""Config validation and duration parsing: bad values name the key and the fix (exit 2)."""
from __future__ import annotations

from typing import Any

import pytest

from ops import overrides
from ops.config import ConfigError, load, parse_duration
from tests.helpers import config_with


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("ecs__api__known_good_revision", "eight", "ecs.api.known_good_revision must be a revision number >= 1"),
        ("ecs__api__known_good_revision", 0, 'ecs.api.known_good_revision must be a revision number >= 1, null or "auto"'),
        ("aws__account_id", "12345", "aws.account_id must be a 12-digit AWS account id"),
        ("lock__stale_after", 0, "lock.stale_after must be a positive number"),
        ("ecs__worker__restore_count", True, "ecs.worker.restore_count must be a whole number"),
        ("api__url", "ftp://x", "api.url must be an http(s) URL"),
        ("capture__since", "5x", "capture.since must be a duration"),
        ("wait__timeout", -1, "wait.timeout must be a positive number"),
        ("aws__region", "", "aws.region must be a non-empty string"),
        ("ecs__cluster", 12, "ecs.cluster must be a non-empty string"),
    ],
)
def test_bad_config_names_the_key(key: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(config_with(**{key: value}))
    assert expected in caught.value.message
    assert caught.value.exit_code == 2


def test_missing_key_is_named() -> None:
    config = config_with()
    del config["ecs"]["api"]["family"]
    with pytest.raises(ConfigError, match="config key ecs.api.family is missing"):
        load(config)


def test_null_or_empty_profile_means_default_chain() -> None:
    assert load(config_with(aws__profile=None)).aws.profile is None
    assert load(config_with(aws__profile="")).aws.profile is None
    assert load(config_with()).aws.profile == "okta-sso"


@pytest.mark.parametrize("text, seconds", [("10m", 600), ("1h", 3600), ("90s", 90), ("1h30m", 5400)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "0m", "-5m", "10 minutes"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("value", [None, "auto", "AUTO", " null "])
def test_known_good_revision_auto(value: Any) -> None:
    assert load(config_with(ecs__api__known_good_revision=value)).api_service.known_good_revision is None
    assert load(config_with(ecs__api__known_good_revision="7")).api_service.known_good_revision == 7


def test_the_word_auto_in_the_environment_is_taken_out_before_invoke_casts_it() -> None:
    environ = {"INVOKE_ECS_API_KNOWN_GOOD_REVISION": "auto", "INVOKE_WAIT_TIMEOUT": "30"}
    words = overrides.take_word_overrides(environ)
    assert environ == {"INVOKE_WAIT_TIMEOUT": "30"}
    assert load(config_with(), words).api_service.known_good_revision is None
    numbers = {"INVOKE_ECS_API_KNOWN_GOOD_REVISION": "7"}
    assert overrides.take_word_overrides(numbers) == {} and numbers  # a number is Invoke's to cast


def test_additions_have_defaults() -> None:
    settings = load(config_with())
    assert settings.aws.account_id is None and settings.lock.stale_after == 3600
    assert settings.lock.parameter == "/rollback-toolkit/sandbox-broker-cluster/sandbox-broker"
    assert settings.notify.webhook_env == "SANDBOX_BROKER_ROLLBACK_WEBHOOK"
    assert load(config_with(lock__parameter="/x/y")).lock.parameter == "/x/y"
    assert load(config_with(aws__account_id=905418046272)).aws.account_id == "905418046272"
