"""What a task run needs, built once per process: validated settings and one AWS session."""
from __future__ import annotations

import functools
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ops.aws import session as aws_session
from ops.aws.session import Aws, Identity
from ops.config import Settings, load
from ops.errors import UsageError

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from invoke import Config

    from ops.aws.logs import Pace

_FIRST_USE = threading.Lock()
Say = Callable[[str], None]  # where a command prints its progress (print, or a collector in the drill)


class AccountMismatch(UsageError):
    """The caller is in another account than ``aws.account_id`` (a wrong profile): nothing was done."""

    def __init__(self, identity: Identity, expected: str) -> None:
        self.identity = identity
        self.expected = expected
        super().__init__(
            f"wrong AWS account: the caller {identity.arn} is in account {identity.account}, but aws.account_id is "
            f"{expected}: nothing was done",
            "check the profile (aws.profile, AWS_PROFILE) or the credentials in the environment; "
            "aws.account_id in invoke.yaml names the account this toolkit may change",
        )


@dataclass
class Runtime:
    """Settings, the AWS session and the caller, shared by every function of one task run."""

    settings: Settings
    aws: Aws
    _identity: Identity | None = None
    _asking: "Future[Identity] | None" = None  # the caller check running beside the task's first calls
    _log_pace: "Pace | None" = None

    @property
    def ecs(self) -> "BaseClient":
        return self.aws.client("ecs")

    @property
    def logs(self) -> "BaseClient":
        return self.aws.client("logs")

    def client(self, name: str) -> "BaseClient":
        return self.aws.client(name)

    @property
    def log_pace(self) -> "Pace":
        """FilterLogEvents' quota is per account and Region: every log reader of this run (capture's
        slices, triage's error count) takes its turn from this one bucket (made once, whichever thread
        asks first: ``cached_property`` stopped locking in Python 3.12)."""
        with _FIRST_USE:
            if self._log_pace is None:
                from ops.aws.logs import Pace

                self._log_pace = Pace()
            return self._log_pace

    def identity(self) -> Identity:
        """The caller (``sts get-caller-identity``), asked once per process; with ``aws.account_id`` set, a
        caller in another account is AccountMismatch (exit 2) before any other AWS call is made."""
        if self._identity is None:
            found = self._asking.result() if self._asking is not None else self.aws.identity()
            expected = self.settings.aws.account_id
            if expected and found.account != expected:
                raise AccountMismatch(found, expected)
            self._identity = found
            print(found.describe(self.settings.cluster), file=sys.stderr, flush=True)
        return self._identity

    def announce_beside(self) -> None:
        """For a read-only task: the caller check runs beside its first calls (``identity()`` waits for it,
        and prints who/where), unless ``aws.account_id`` must be checked before any other call."""
        if self._identity is not None or self._asking is not None:
            return
        if self.settings.aws.account_id:
            self.identity()
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caller")
        self._asking = pool.submit(self.aws.identity)
        pool.shutdown(wait=False)


@functools.lru_cache(maxsize=8)
def _runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings, aws=aws_session.connect(settings.aws))


def runtime(config: "Mapping[str, Any] | Config", words: Mapping[tuple[str, ...], str] | None = None) -> Runtime:
    """The Runtime for Invoke's merged config (validated; cached per distinct settings); ``words`` are the
    ``INVOKE_*`` words taken out of the environment before Invoke could cast them (``take_word_overrides``)."""
    return _runtime(load(config, words))


def for_settings(settings: Settings) -> Runtime:
    return _runtime(settings)
