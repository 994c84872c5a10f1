"""Config validation and AWS access failures: one line with the fix, exit 2, no traceback.

Profile-not-found, SSO and no-credentials cases use botocore's real credential chain with temp
config files. Access denied and throttling cannot be produced by moto, so they are injected at
the botocore layer with event hooks (``before-call`` / ``before-send``), as marked below.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from invoke import Collection, Program

import tasks
from ops.runtime import runtime
from tests.helpers import config_with, run_inv


def _no_traceback(result: Any) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_runtime_config_file_and_env_overrides(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("ecs:\n  worker:\n    service: ghost-worker\n")
    result = run_inv(["-f", str(other), "status"], moto_env, tmp_path)
    assert result.code == 2, result.stderr
    assert "ECS service ghost-worker not found in cluster sandbox-broker-cluster" in result.stderr
    _no_traceback(result)

    env = dict(moto_env, INVOKE_ECS_CLUSTER="no-such-cluster")
    result = run_inv(["status"], env, tmp_path)
    assert result.code == 2
    assert "ECS cluster not found" in result.stderr and "ecs.cluster" in result.stderr
    _no_traceback(result)


def test_bad_number_override_is_one_line(moto_env: dict[str, str], tmp_path: Path) -> None:
    result = run_inv(["status"], dict(moto_env, INVOKE_WAIT_TIMEOUT="soon"), tmp_path)
    assert result.code == 2
    assert "INVOKE_WAIT_TIMEOUT='soon' is not a whole number (config key wait.timeout" in result.stderr
    assert "-> set INVOKE_WAIT_TIMEOUT to a whole number, or unset it" in result.stderr
    _no_traceback(result)


def test_bad_config_file_value(moto_env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "bad.yaml"
    other.write_text("ecs:\n  api:\n    known_good_revision: eight\n")
    result = run_inv(["-f", str(other), "status"], moto_env, tmp_path)
    assert result.code == 2
    assert "config key ecs.api.known_good_revision must be a revision number >= 1, null or \"auto\", got 'eight'" in result.stderr
    _no_traceback(result)


def test_profile_not_found(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    result = run_inv(["status"], dict(moto_env, INVOKE_AWS_PROFILE="okta-sso"), tmp_path)
    assert result.code == 2
    assert "AWS profile 'okta-sso' is not in your AWS config" in result.stderr
    _no_traceback(result)


def test_aws_profile_not_found_names_it_and_how_to_stop_using_it(seeded: Any, moto_env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    result = run_inv(["status"], dict(moto_env, AWS_PROFILE="nope"), tmp_path)  # aws.profile null: AWS_PROFILE counts
    assert result.code == 2
    assert "AWS profile 'nope' is not in your AWS config" in result.stderr
    assert "`aws configure sso --profile nope`" in result.stderr and "unset AWS_PROFILE" in result.stderr
    _no_traceback(result)


def test_a_login_profile_without_the_crt_extra_names_the_package(seeded: Any, moto_env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    Path(moto_env["AWS_CONFIG_FILE"]).write_text(
        "[profile web]\nlogin_session = arn:aws:iam::123456789012:user/oncall\nregion = eu-central-1\n")
    env = {k: v for k, v in moto_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    result = run_inv(["status"], dict(env, INVOKE_AWS_PROFILE="web"), tmp_path)  # `aws login` needs botocore[crt]
    assert result.code == 2, result.stderr
    assert "the AWS credentials need a package that is not installed" in result.stderr
    assert "pip install 'botocore[crt]'" in result.stderr
    _no_traceback(result)


SSO_CONFIG = """\
[profile okta-sso]
sso_session = okta
sso_account_id = 123456789012
sso_role_name = Admin
region = eu-central-1
[sso-session okta]
sso_start_url = https://example.awsapps.com/start
sso_region = eu-central-1
sso_registration_scopes = sso:account:access
"""


@pytest.mark.parametrize("token_state", ["missing", "expired"])
def test_sso_token_missing_or_expired(seeded: Any, moto_env: dict[str, str], tmp_path: Path, token_state: str) -> None:
    Path(moto_env["AWS_CONFIG_FILE"]).write_text(SSO_CONFIG)
    if token_state == "expired":
        cache = tmp_path / ".aws" / "sso" / "cache"
        cache.mkdir(parents=True)
        expired = {"startUrl": "https://example.awsapps.com/start", "region": "eu-central-1",
                   "accessToken": "old", "expiresAt": "2020-01-01T00:00:00Z"}
        (cache / f"{hashlib.sha1(b'okta').hexdigest()}.json").write_text(json.dumps(expired))
    env = dict(moto_env, INVOKE_AWS_PROFILE="okta-sso")
    env.pop("AWS_ACCESS_KEY_ID")
    env.pop("AWS_SECRET_ACCESS_KEY")
    result = run_inv(["status"], env, tmp_path)
    assert result.code == 2
    assert "SSO session for profile 'okta-sso' is expired or missing" in result.stderr
    assert "run `aws sso login --profile okta-sso`" in result.stderr
    _no_traceback(result)


def test_no_credentials(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in moto_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    result = run_inv(["status"], env, tmp_path)
    assert result.code == 2
    assert "no AWS credentials found" in result.stderr
    _no_traceback(result)


@pytest.fixture
def in_process(seeded: Any, moto_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The toolkit's own runtime, in-process, against moto (for botocore-layer fault injection)."""
    for key, value in moto_env.items():
        monkeypatch.setenv(key, value)
    return runtime(config_with(aws__profile=""))


def _run_program(args: list[str]) -> int:
    program = Program(namespace=Collection.from_module(tasks), version="test")
    try:
        program.run(["inv", *args])
    except SystemExit as exited:
        return int(exited.code or 0)
    return 0


def test_access_denied_names_the_call(in_process: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Injected at the botocore layer: moto cannot refuse a call for lack of permission.
    def deny(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "User is not authorized to perform ecs:DescribeServices"}},
            "DescribeServices",
        )

    in_process.ecs.meta.events.register("before-call.ecs.DescribeServices", deny)
    try:
        code = _run_program(["status"])
    finally:
        in_process.ecs.meta.events.unregister("before-call.ecs.DescribeServices", deny)
    err = capsys.readouterr().err
    assert code == 2
    assert "access denied calling DescribeServices" in err
    assert "Traceback" not in err


def test_throttling_is_retried(in_process: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # Injected at the botocore layer (before-send answers 400 ThrottlingException twice): the
    # standard retry mode must retry it and the task must still succeed.
    calls: list[int] = []

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        calls.append(1)
        if len(calls) <= 2:
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))
        return None

    in_process.ecs.meta.events.register("before-send.ecs.DescribeServices", throttle)
    try:
        code = _run_program(["status", "--json"])
    finally:
        in_process.ecs.meta.events.unregister("before-send.ecs.DescribeServices", throttle)
    assert code == 0
    assert len(calls) == 3
    assert json.loads(capsys.readouterr().out)["services"][0]["name"] == "sandbox-broker"


class _Raw:
    """The minimal raw-response object botocore reads a body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


@pytest.mark.parametrize(("content", "words"), [
    ("aws: null\n", "config key aws in"),
    ('ecs: "hello"\n', "config key ecs in"),
    ("just a string\n", "must hold a mapping of sections"),
    ("ecs: [: bad\n", "cannot read the config file"),
    ("aws: {region: 'not a region!'}\n", "aws.region must be an AWS region"),
    ("lock: {parameter: aws-lock}\n", "lock.parameter must be an SSM parameter name"),
])
def test_a_config_file_invoke_would_crash_on_is_one_line(moto_env: dict[str, str], tmp_path: Path, content: str,
                                                         words: str) -> None:
    (tmp_path / "bad.yaml").write_text(content)
    result = run_inv(["-f", str(tmp_path / "bad.yaml"), "status", "--json"], moto_env, tmp_path)
    assert result.code == 2, result.stderr
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert words in error and result.stdout == ""
    _no_traceback(result)


def test_a_missing_config_file_and_an_override_of_the_wrong_type_are_one_line(moto_env: dict[str, str],
                                                                              tmp_path: Path) -> None:
    missing = run_inv(["-f", str(tmp_path / "nope.yaml"), "status"], moto_env, tmp_path)
    assert missing.code == 2 and "nope.yaml (-f) does not exist" in missing.stderr
    (tmp_path / "ints.yaml").write_text("wait: {poll: 1}\n")
    cast = run_inv(["-f", str(tmp_path / "ints.yaml"), "status"], dict(moto_env, INVOKE_WAIT_POLL="0.5"), tmp_path)
    assert cast.code == 2 and "INVOKE_WAIT_POLL='0.5' is not a whole number (config key wait.poll is 1" in cast.stderr
    for result in (missing, cast):
        _no_traceback(result)


def test_auto_from_the_environment_yields_to_a_config_file(seeded: Any, moto_env: dict[str, str], tmp_path: Path) -> None:
    """Invoke's order: a -f file beats INVOKE_ variables, for the word `auto` as for numbers."""
    from ops import overrides

    (tmp_path / "pin.yaml").write_text("ecs: {api: {known_good_revision: 7}}\n")
    environ = {"INVOKE_ECS_API_KNOWN_GOOD_REVISION": "auto"}
    _, runtime = overrides.config_files(["-f", str(tmp_path / "pin.yaml")], {}, tmp_path)
    assert overrides.take_word_overrides(environ, runtime) == {} and environ == {}
    assert overrides.take_word_overrides({"INVOKE_ECS_API_KNOWN_GOOD_REVISION": "auto"}, {}) == {
        ("ecs", "api", "known_good_revision"): "auto"}
