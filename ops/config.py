"""Typed settings, read once from Invoke's merged config (invoke.yaml, ``-f FILE``, ``INVOKE_*``).

``DEFAULTS`` declares every key with its default, so Invoke's ``INVOKE_*`` environment overrides
reach each of them; ``load`` validates the merged result into ``Settings`` or raises
``ConfigError`` naming the key and the fix.
"""
from __future__ import annotations

import copy
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlparse

from ops.errors import ConfigError

DEFAULTS: dict[str, Any] = {
    "aws": {"profile": "okta-sso", "region": "eu-central-1", "account_id": None},
    "ecs": {
        "cluster": "sandbox-broker-cluster",
        "api": {
            "service": "sandbox-broker",
            "family": "sandbox-broker",
            "known_good_revision": 8,
            "log_group": "/ecs/sandbox-broker-api",
        },
        "worker": {
            "service": "sandbox-broker-worker",
            "log_group": "/ecs/sandbox-broker-worker",
            "restore_count": 1,
        },
    },
    "api": {
        "url": "https://api-sandbox-broker.highvelocitynetworking.com",
        "token_env": "SANDBOX_BROKER_API_TOKEN",
        "timeout": 10,  # seconds per HTTP request (an addition to the contract)
    },
    "capture": {"since": "10m", "dir": "diagnostics"},
    "wait": {
        "timeout": 600,
        "poll": 1.0,  # first poll interval in seconds; it grows to poll_max (additions)
        "poll_max": 1.5,  # at most one DescribeServices (both services) every 1.5 s: far below ECS's rate
    },
    "lock": {"parameter": None, "stale_after": 3600},
    "notify": {"webhook_env": "SANDBOX_BROKER_ROLLBACK_WEBHOOK"},
}
AUTO = ("auto", "null", "none", "")  # known_good_revision: the last good revision from ECS's deployment history
# keys whose INVOKE_* value may be a word although their default is a number (Invoke would cast it)
WORD_OVERRIDES: dict[tuple[str, ...], tuple[str, ...]] = {("ecs", "api", "known_good_revision"): AUTO}

MAX_DURATION = 720 * 3600  # CloudWatch windows longer than 30 days are not a rollback's business
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> int:
    """``10m``, ``1h``, ``90s``, ``1h30m`` -> seconds. Raises ValueError on anything else."""
    match = _DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration like 10m, 1h or 90s")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    if total > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than 720h (30 days)")
    return total


@dataclass(frozen=True)
class AwsSettings:
    profile: str | None
    region: str
    account_id: str | None = None  # when set, every AWS task refuses a caller in another account


@dataclass(frozen=True)
class ServiceSettings:
    """One ECS service of the pair, as the config names it."""

    role: str  # "api" or "worker"
    service: str
    log_group: str
    family: str | None = None
    known_good_revision: int | None = None  # None: "auto", the last good revision from the history
    restore_count: int | None = None


@dataclass(frozen=True)
class ApiSettings:
    url: str
    token_env: str
    timeout: float


@dataclass(frozen=True)
class CaptureSettings:
    since: str
    since_seconds: int
    dir: str


@dataclass(frozen=True)
class WaitSettings:
    timeout: float
    poll: float
    poll_max: float


@dataclass(frozen=True)
class LockSettings:
    parameter: str  # the SSM parameter that is the rollback lock
    stale_after: float  # seconds after which a held lock may be broken


@dataclass(frozen=True)
class NotifySettings:
    webhook_env: str  # the env var holding the webhook URL (unset or empty: no notifications)


@dataclass(frozen=True)
class Settings:
    aws: AwsSettings
    cluster: str
    api_service: ServiceSettings
    worker_service: ServiceSettings
    api: ApiSettings
    capture: CaptureSettings
    wait: WaitSettings
    lock: LockSettings
    notify: NotifySettings

    @property
    def services(self) -> tuple[ServiceSettings, ServiceSettings]:
        """Both services, API first (the order of every table and JSON list)."""
        return (self.api_service, self.worker_service)


def token_from_env(settings: Settings, environ: Mapping[str, str] | None = None) -> str | None:
    """The API's bearer token from the variable ``api.token_env`` names; None when unset or blank."""
    env = os.environ if environ is None else environ
    value = (env.get(settings.api.token_env) or "").strip()
    return value or None


class _Reader:
    """Reads dotted keys from a nested mapping and raises ConfigError naming the key."""

    def __init__(self, config: Any) -> None:
        self._config = config

    def raw(self, key: str) -> Any:
        node: Any = self._config
        for part in key.split("."):
            try:
                node = node[part]
            except (KeyError, TypeError):
                raise ConfigError(
                    f"config key {key} is missing",
                    f"add `{key}` to invoke.yaml (see the README's Config section)",
                ) from None
        return node

    def fail(self, key: str, expected: str, value: Any) -> ConfigError:
        env = "INVOKE_" + key.upper().replace(".", "_")
        return ConfigError(
            f"config key {key} must be {expected}, got {value!r}",
            f"fix it in invoke.yaml (or in the -f file / {env})",
        )

    def text(self, key: str, optional: bool = False) -> str | None:
        value = self.raw(key)
        if optional and value in (None, ""):
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "a non-empty string", value)
        return value.strip()

    def integer(self, key: str, minimum: int) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"a whole number >= {minimum}", value)
        return value

    def revision(self, key: str) -> int | None:
        """A revision number, or None for null / "auto"."""
        value = self.raw(key)
        if value is None or (isinstance(value, str) and value.strip().lower() in AUTO):
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(key, 'a revision number >= 1, null or "auto"', value)
        return value

    def account(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None or value == "":
            return None
        text = str(value).strip()
        if not re.fullmatch(r"[0-9]{12}", text):
            raise self.fail(key, "a 12-digit AWS account id (or null)", value)
        return text

    def number(self, key: str) -> float:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise self.fail(key, "a positive number of seconds", value)
        return float(value)


def _url(reader: _Reader, key: str) -> str:
    value = reader.text(key)
    assert value is not None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise reader.fail(key, "an http(s) URL", value)
    return value.rstrip("/")


def _capture(reader: _Reader) -> CaptureSettings:
    since = str(reader.raw("capture.since"))
    try:
        seconds = parse_duration(since)
    except ValueError:
        raise reader.fail("capture.since", "a duration like 10m, 1h or 90s", since) from None
    directory = reader.text("capture.dir")
    assert directory is not None
    return CaptureSettings(since=since, since_seconds=seconds, dir=directory)


def load(config: Any, words: Mapping[tuple[str, ...], str] | None = None) -> Settings:
    """Validate Invoke's merged config into Settings; ConfigError names the first bad key."""
    r = _Reader(_with_words(config, words or {}))
    cluster = r.text("ecs.cluster") or ""
    api_service = ServiceSettings(
        role="api",
        service=r.text("ecs.api.service") or "",
        family=r.text("ecs.api.family"),
        known_good_revision=r.revision("ecs.api.known_good_revision"),
        log_group=r.text("ecs.api.log_group") or "",
    )
    worker_service = ServiceSettings(
        role="worker",
        service=r.text("ecs.worker.service") or "",
        log_group=r.text("ecs.worker.log_group") or "",
        restore_count=r.integer("ecs.worker.restore_count", 0),
    )
    return Settings(
        aws=AwsSettings(profile=r.text("aws.profile", optional=True), region=_region(r),
                        account_id=r.account("aws.account_id")),
        cluster=cluster,
        api_service=api_service,
        worker_service=worker_service,
        api=ApiSettings(
            url=_url(r, "api.url"),
            token_env=r.text("api.token_env") or "",
            timeout=r.number("api.timeout"),
        ),
        capture=_capture(r),
        wait=WaitSettings(
            timeout=r.number("wait.timeout"),
            poll=r.number("wait.poll"),
            poll_max=r.number("wait.poll_max"),
        ),
        lock=LockSettings(parameter=_lock_parameter(r, cluster, api_service.service),
                          stale_after=r.number("lock.stale_after")),
        notify=NotifySettings(webhook_env=r.text("notify.webhook_env") or ""),
    )


_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_SSM_NAME = re.compile(r"^[A-Za-z0-9_.\-/]+$")


def _region(r: _Reader) -> str:
    region = r.text("aws.region") or ""
    if not _REGION.match(region):
        raise r.fail("aws.region", "an AWS region such as eu-central-1", region)
    return region


BREAK_SUFFIX = ".break"  # the lock's break marker is the lock's parameter with this suffix


def _lock_parameter(r: _Reader, cluster: str, service: str) -> str:
    """``lock.parameter`` as SSM allows parameter names (so a bad one fails here, not after confirmation)."""
    name = r.text("lock.parameter", optional=True) or f"/rollback-toolkit/{cluster}/{service}"
    bare = name.lstrip("/").lower()
    valid = (_SSM_NAME.match(name) and len(name) <= 1011 - len(BREAK_SUFFIX) and "//" not in name
             and not bare.startswith(("aws", "ssm")) and ("/" not in name or name.startswith("/"))
             and name.count("/") <= 15)
    if not valid:
        raise r.fail("lock.parameter", "an SSM parameter name (letters, digits, _ . - /; a path starts with /; "
                     "not aws... or ssm...)", name)
    return name


def _with_words(config: Any, words: Mapping[tuple[str, ...], str]) -> Any:
    """``config`` with the word overrides (``take_word_overrides``) put back in place."""
    if not words:
        return config
    merged = copy.deepcopy(_plain(config))
    for path, value in words.items():
        node = merged
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return merged


def _plain(node: Any) -> Any:
    """Invoke's Config (a DataProxy) or any mapping as plain dicts."""
    if isinstance(node, Mapping) or hasattr(node, "keys"):
        return {key: _plain(node[key]) for key in node.keys()}
    return node
