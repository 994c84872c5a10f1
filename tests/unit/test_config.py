"""Config validation and duration parsing: bad values name the key and the fix (exit 2)."""
from __future__ import annotations

from typing import Any

import pytest

from ops.config import ConfigError, load, parse_duration
from tests.helpers import config_with


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("ecs__api__known_good_revision", "eight", "ecs.api.known_good_revision must be a whole number"),
        ("ecs__api__known_good_revision", 0, "ecs.api.known_good_revision must be a whole number >= 1"),
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
