"""Flags and references parsed without AWS: revisions, images, numbers, durations, ports."""
from __future__ import annotations

import pytest

from ops import cli
from ops.aws.ecr import parse_image, parse_image_lenient, short_digest
from ops.change.target import parse_revision
from ops.config import DEFAULTS, load
from ops.errors import UsageError

DIGEST = "sha256:" + "0123456789abcdef" * 4
ECR = "905418046272.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api"


@pytest.mark.parametrize(("text", "expected"), [
    (None, ("sandbox-broker", 8)), ("", ("sandbox-broker", 8)), ("7", ("sandbox-broker", 7)),
    ("other:12", ("other", 12)), (" 9 ", ("sandbox-broker", 9)),
])
def test_revision(text: str | None, expected: tuple[str, int]) -> None:
    assert parse_revision(text, "sandbox-broker", 8) == expected


@pytest.mark.parametrize("text", ["eight", "0", "-1", "8.0", "\u00b2", "sandbox-broker:", "1234567890"])
def test_bad_revision(text: str) -> None:
    with pytest.raises(UsageError, match="is not a revision number"):
        parse_revision(text, "sandbox-broker", 8)


def test_image_references() -> None:
    tagged = parse_image(f"{ECR}:v8")
    assert (tagged.ecr_account, tagged.repository, tagged.tag, tagged.digest) == ("905418046272", "sandbox-broker-api", "v8", None)
    pinned = parse_image(f"{ECR}@{DIGEST}")
    assert pinned.digest == DIGEST and str(pinned) == f"{ECR}@{DIGEST}" and not pinned.is_mutable_tag
    assert parse_image("nginx:latest").is_mutable_tag and parse_image("nginx:latest").ecr_account is None
    assert tagged.pinned(DIGEST) == f"{ECR}@{DIGEST}"
    assert short_digest(DIGEST) == "0123456789ab" and short_digest(None) == "-"


@pytest.mark.parametrize("uri", [f"{ECR}", "UPPER/case:tag", f"{ECR}@sha256:short", "", "a b:c"])
def test_bad_image_flag(uri: str) -> None:
    with pytest.raises(UsageError, match="is not an image URI"):
        parse_image(uri)


def test_lenient_image_as_a_task_definition_holds_it() -> None:
    untagged = parse_image_lenient(ECR)
    assert untagged is not None and untagged.tag == "latest" and untagged.is_mutable_tag
    assert parse_image_lenient("not an image") is None


def test_whole_numbers_are_ascii_digits_only() -> None:
    assert cli.whole("--count", "3") == 3 and cli.whole("--count", None) is None
    for bad in ("-1", "1.5", "\u0663", "1e3", "1234567"):
        with pytest.raises(UsageError, match="is not a whole number"):
            cli.whole("--count", bad)


def test_seconds_are_positive_and_finite() -> None:
    assert cli.seconds("2.5") == 2.5 and cli.seconds(None) is None
    for bad in ("0", "-3", "inf", "nan", "soon"):
        with pytest.raises(UsageError, match="is not a positive number of seconds"):
            cli.seconds(bad)


def test_since_defaults_to_the_config_and_rejects_nonsense() -> None:
    capture = load(DEFAULTS).capture
    assert cli.since(None, capture) == ("10m", 600)
    assert cli.since("90s", capture) == ("90s", 90)
    with pytest.raises(UsageError, match="is not a duration"):
        cli.since("721h", capture)


def test_ports_and_choices() -> None:
    assert cli.port("--aws-port", "0") == 0 and cli.port("--aws-port", None) == 0
    with pytest.raises(UsageError, match="0..65535"):
        cli.port("--aws-port", "70000")
    assert cli.one_of("--scenario", "a", ("a", "b")) == "a"
    with pytest.raises(UsageError) as caught:
        cli.one_of("--scenario", "c", ("a", "b"))
    assert caught.value.hint == "use one of: a, b"
