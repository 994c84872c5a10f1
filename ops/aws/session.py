"""One botocore session per task run, clients with retries and timeouts, and botocore errors translated once.

botocore directly, not boto3: the clients are the same, without the ~0.1 s boto3 spends importing
s3transfer. ``AWS_ENDPOINT_URL`` (how a local emulator is targeted) is honoured by botocore itself.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    MissingDependencyException,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    SSOError,
    SSOTokenLoadError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)

from ops import collector
from ops.aws.actions import OPERATIONS
from ops.config import AwsSettings
from ops.errors import AccessDenied, CredentialsError, NotFound, OperationFailed, ToolkitError

if TYPE_CHECKING:  # botocore's session and clients cost ~0.15 s to import: only tasks that call AWS pay it
    import botocore.session
    from botocore.client import BaseClient
    from botocore.config import Config

CLIENT_SETTINGS: dict[str, Any] = {
    "retries": {"mode": "standard", "max_attempts": 5},
    "connect_timeout": 5,
    "read_timeout": 30,
}


@functools.lru_cache(maxsize=1)
def client_config() -> "Config":
    """Retries and timeouts of every client (built on first use, so importing this module stays cheap)."""
    from botocore.config import Config

    return Config(**CLIENT_SETTINGS)

_ACCESS_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException"}
_EXPIRED = {
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
}
_SSO_ERRORS = (SSOError, SSOTokenLoadError, UnauthorizedSSOTokenError, TokenRetrievalError)


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str
    region: str

    def describe(self, cluster: str) -> str:
        return f"AWS account {self.account} as {self.arn}, region {self.region}, cluster {cluster}"


@dataclass
class Aws:
    """One botocore session and its clients, created once per task run (thread-safe: clients may be asked
    for from the threads that overlap calls)."""

    settings: AwsSettings
    session: "botocore.session.Session"
    _clients: "dict[str, BaseClient]" = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, name: str) -> "BaseClient":
        """The client for ``name``, created on first use. Creation is serialised (a botocore session is not
        thread-safe); a client that exists is handed out at once, so one thread's calls overlap another's
        client creation."""
        found = self._clients.get(name)
        if found is not None:
            return found
        with self._lock:
            if name not in self._clients:
                with collector.building():
                    self._clients[name] = self.session.create_client(name, region_name=self.settings.region,
                                                                     config=client_config())
            return self._clients[name]

    def identity(self) -> Identity:
        answer = self.client("sts").get_caller_identity()
        return Identity(account=answer["Account"], arn=answer["Arn"], region=self.settings.region)


def connect(settings: AwsSettings) -> Aws:
    """A session for ``aws.profile`` (None: the default chain) in ``aws.region``."""
    with collector.building():
        import botocore.session

        from ops.aws import loader

        session = botocore.session.Session(profile=settings.profile)
        loader.install(session, OPERATIONS)
    if settings.profile and settings.profile not in session.available_profiles:
        raise translate(ProfileNotFound(profile=settings.profile), settings.profile)
    return Aws(settings=settings, session=session)


def login_hint(profile: str | None) -> str:
    if profile:
        return f"run `aws sso login --profile {profile}`, then try again"
    return "run `aws sso login` (or export fresh credentials), then try again"


def _client_error(exc: ClientError, profile: str | None) -> ToolkitError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")).strip()
    operation = exc.operation_name
    if code in _ACCESS_DENIED:
        return AccessDenied(
            f"access denied calling {operation}: {message}",
            f"ask for permission to call {operation}, or use another profile (aws.profile)",
        )
    if code in _EXPIRED:
        return CredentialsError(f"AWS rejected the credentials ({code}): {message}", login_hint(profile))
    if code == "ClusterNotFoundException":
        return NotFound(f"ECS cluster not found ({operation}): {message}", "check ecs.cluster in invoke.yaml and aws.region")
    if code == "ServiceNotFoundException":
        return NotFound(f"ECS service not found ({operation}): {message}", "check ecs.api.service / ecs.worker.service in invoke.yaml")
    return OperationFailed(f"{operation} failed: {code}: {message}")


def error_code(exc: BaseException) -> str:
    """A short reason for a failed call, for a note: the AWS error code, else the error's own words."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or str(exc)
    return str(exc) or type(exc).__name__


def translate(exc: BaseException, profile: str | None = None) -> ToolkitError:
    """Map a botocore exception to the toolkit's error with its exit code and hint."""
    if isinstance(exc, ToolkitError):
        return exc
    if isinstance(exc, ProfileNotFound):
        name = profile or exc.kwargs.get("profile")  # aws.profile, else AWS_PROFILE (what botocore looked for)
        return CredentialsError(
            f"AWS profile {name!r} is not in your AWS config",
            f"create it with `aws configure sso --profile {name}`, or set aws.profile to null in invoke.yaml"
            + ("" if profile else " and unset AWS_PROFILE"),
        )
    if isinstance(exc, MissingDependencyException):  # e.g. an `aws login` profile without botocore's crt extra
        return CredentialsError(f"the AWS credentials need a package that is not installed: {exc.kwargs.get('msg', exc)}",
                                "pip install 'botocore[crt]' into the toolkit's environment, then try again")
    if isinstance(exc, _SSO_ERRORS):
        return CredentialsError(f"the AWS SSO session for profile {profile!r} is expired or missing", login_hint(profile))
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return CredentialsError(
            "no AWS credentials found",
            f"{login_hint(profile)}; or set AWS_PROFILE / AWS_ACCESS_KEY_ID in the environment",
        )
    if isinstance(exc, NoRegionError):
        return CredentialsError("no AWS region configured", "set aws.region in invoke.yaml")
    if isinstance(exc, ClientError):
        return _client_error(exc, profile)
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)):
        return OperationFailed(f"cannot reach AWS: {exc}", "check the network (or AWS_ENDPOINT_URL), then try again")
    return OperationFailed(f"AWS call failed: {exc}")
