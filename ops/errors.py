"""Every expected failure, each with its exit code and a hint saying what to do next.

The task edge (``ops.edge``) is the one place that turns these into exit statuses.
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class ToolkitError(Exception):
    """An expected failure: a one-line message, an optional hint, an exit code."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The text shown to the operator: the message, then the hint on its own line."""
        return self.message if not self.hint else f"{self.message}\n  -> {self.hint}"


class UsageError(ToolkitError):
    """Bad input (flags, config): nothing was changed."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A config key is missing or has the wrong type."""


class CredentialsError(UsageError):
    """No usable AWS credentials (missing profile, expired SSO token, no keys)."""


class AccessDenied(UsageError):
    """The caller may not make an AWS call the task needs."""


class NotFound(UsageError):
    """A cluster, service, task definition or image the config or a flag names does not exist."""


class OperationFailed(ToolkitError):
    """An AWS operation, a wait or a verification failed."""


class CaptureFailed(OperationFailed):
    """The pre-rollback capture could not be completed."""


class WaitFailed(OperationFailed):
    """A rollout failed or did not reach a steady state in time."""


class VerificationFailed(OperationFailed):
    """Post-rollback verification found a failing check (``result``: the checks, when known)."""

    def __init__(self, message: str, hint: str | None = None, result: object = None) -> None:
        super().__init__(message, hint)
        self.result = result


class Refused(OperationFailed):
    """The toolkit refused to act because acting would be wrong (e.g. the same image again)."""


class Interrupted(ToolkitError):
    """Ctrl-C: the message says what was already changed and how to finish or undo."""

    exit_code = EXIT_INTERRUPTED
