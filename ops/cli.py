"""The task edge: flags parsed into values, and the one place where exceptions become messages and exit codes.

Invoke's ``Program.run`` only handles ``Exit``/``UnexpectedExit``/``ParseError``; every task body is
wrapped with ``edge`` so an expected failure is one plain message (with its hint) on stderr and
the error's exit code, never a traceback.
"""
from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar, overload

from botocore.exceptions import BotoCoreError, ClientError
from invoke.exceptions import Exit

from ops import signals
from ops.aws.session import translate
from ops.config import AUTO, CaptureSettings, parse_duration
from ops.errors import Interrupted, ToolkitError, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def fail(error: ToolkitError) -> Exit:
    """Print ``error`` to stderr and return the ``Exit`` carrying its code."""
    print(f"error: {error.render()}", file=sys.stderr, flush=True)
    return Exit(code=error.exit_code)


def _profile(context: Any) -> str | None:
    try:
        return context.config["aws"]["profile"] or None
    except (KeyError, TypeError, AttributeError):
        return None


def edge(body: F) -> F:
    """Wrap a task body: ToolkitError, botocore errors and Ctrl-C become exit codes."""

    @functools.wraps(body)
    def wrapper(context: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return body(context, *args, **kwargs)
        except Exit:
            raise
        except ToolkitError as error:
            if isinstance(error, Interrupted):
                signals.hold()
            raise fail(error) from None
        except (BotoCoreError, ClientError) as error:
            raise fail(translate(error, _profile(context))) from None
        except KeyboardInterrupt:
            signals.hold()
            raise fail(Interrupted("interrupted: this task had changed nothing")) from None

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------- flags


def seconds(value: str | float | None, flag: str = "--timeout") -> float | None:
    """A positive number of seconds (``--timeout``, ``--rollout-seconds``), or None when not given."""
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not 0 < number < float("inf"):
        raise UsageError(f"{flag} {value!r} is not a positive number of seconds", f"e.g. {flag} 30")
    return number


@overload
def whole(flag: str, value: str | int, minimum: int = ..., message: str | None = ..., hint: str | None = ...) -> int:
    ...


@overload
def whole(flag: str, value: str | int | None, minimum: int = ..., message: str | None = ...,
          hint: str | None = ...) -> int | None:
    ...


def whole(flag: str, value: str | int | None, minimum: int = 0, message: str | None = None,
          hint: str | None = None) -> int | None:
    """An optional whole-number flag (``--count``, ``--from-revision``, ``--events``); below ``minimum`` it is
    UsageError ``message`` (default: ``FLAG 'VALUE' must be MINIMUM or more``) with ``hint``."""
    if value is None:
        return None
    text = str(value).strip()
    if not re.fullmatch(r"[0-9]{1,6}", text):
        raise UsageError(f"{flag} {value!r} is not a whole number (0 to 999999)", f"e.g. {flag} 2")
    number = int(text)
    if number < minimum:
        raise UsageError(message or f"{flag} {value!r} must be {minimum} or more", hint or f"e.g. {flag} {minimum}")
    return number


def since(flag: str | None, capture: CaptureSettings, name: str = "--since") -> tuple[str, int]:
    """A duration flag (``10m``, ``1h``, ``90s``) as text and seconds; absent: ``capture.since``."""
    if flag is None:
        return capture.since, capture.since_seconds
    try:
        return flag, parse_duration(flag)
    except ValueError:
        raise UsageError(f"{name} {flag!r} is not a duration", "use a duration like 10m, 1h or 90s") from None


def port(flag: str, value: str | int | None) -> int:
    """A TCP port on 127.0.0.1 (0 or absent: a free one)."""
    number = whole(flag, value) or 0
    if number > 65535:
        raise UsageError("a port must be 0..65535", "pass 0 (or leave it out) for a free port")
    return number


def one_of(flag: str, value: str, known: tuple[str, ...]) -> str:
    """``value`` if it is one of ``known``, else UsageError listing them."""
    if value not in known:
        raise UsageError(f"{flag} {value!r} is not known", f"use one of: {', '.join(known)}")
    return value


def revision_rule(flag: str, value: str) -> int | None:
    """A rollback target rule: a revision number, or ``auto`` (None: the last good one from the history)."""
    if value.strip().lower() in AUTO:
        return None
    if not re.fullmatch(r"[0-9]{1,9}", value.strip()) or int(value) < 1:
        raise UsageError(f"{flag} {value!r} is not a revision number or auto", f"e.g. {flag} 9 or {flag} auto")
    return int(value)


SANDBOX_INSTALL = "pip install -e '.[sandbox]'"


def sandbox_scenarios() -> tuple[str, ...]:
    """The rehearsal world's scenarios; a missing optional part (moto, PyYAML) is one line naming the install."""
    try:
        from ops.sandbox import SCENARIOS
    except ModuleNotFoundError as missing:
        raise UsageError(f"the rehearsal world needs the sandbox extra, and {missing.name!r} is not installed",
                         f"install it in this venv with: {SANDBOX_INSTALL} (from the project folder)") from None
    return SCENARIOS


def junit_path(value: str | None) -> str | None:
    """``--junit FILE``, checked before any work: a name, and a folder it can be written in (exit 2 otherwise)."""
    if value is None:
        return None
    if not value.strip():
        raise UsageError("--junit needs a file name", "e.g. --junit reports/result.xml")
    target = Path(value)
    if target.is_dir():
        raise UsageError(f"--junit {value!r} is a folder", "name a file in it, e.g. --junit reports/result.xml")
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"--junit {value!r} cannot be written", "pick a file you can write")
    existing = next((p for p in (target.parent.resolve(), *target.parent.resolve().parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--junit {value!r}: its folder cannot be created or written", "pick a folder you can write")
    return value
