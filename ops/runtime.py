"""What a task run needs, built once per process: validated settings and one AWS session."""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Any, Mapping

from ops import aws as aws_mod
from ops.aws import Aws, Identity
from ops.config import AwsSettings, Settings, load


@dataclass
class Runtime:
    settings: Settings
    aws: Aws
    _identity: Identity | None = None

    @property
    def ecs(self) -> Any:
        return self.aws.client("ecs")

    @property
    def logs(self) -> Any:
        return self.aws.client("logs")

    def identity(self) -> Identity:
        """The caller (``sts get-caller-identity``), asked once per process."""
        if self._identity is None:
            self._identity = self.aws.identity()
        return self._identity

    def announce(self) -> Identity:
        """Check the caller and print who/where on stderr, before anything else is done."""
        first = self._identity is None
        identity = self.identity()
        if first:
            print(identity.describe(self.settings.cluster), file=sys.stderr, flush=True)
        return identity


@functools.lru_cache(maxsize=8)
def _runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings, aws=aws_mod.connect(settings.aws))


def runtime(config: Mapping[str, Any]) -> Runtime:
    """The Runtime for Invoke's merged config (validated; cached per distinct settings)."""
    return _runtime(load(config))


def for_settings(settings: Settings) -> Runtime:
    return _runtime(settings)


__all__ = ["Runtime", "runtime", "for_settings", "AwsSettings"]
