"""The task edge: the one place where exceptions become messages and exit statuses.

Invoke's ``Program.run`` only handles ``Exit``/``UnexpectedExit``/``ParseError``; every task body is
wrapped with ``edge`` so an expected failure is one plain message (with its hint) on stderr and
the error's exit code, never a traceback.
"""
from __future__ import annotations

import functools
import sys
from typing import Any, Callable, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from invoke.exceptions import Exit

from ops.aws import translate
from ops.errors import Interrupted, ToolkitError

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
            raise fail(error) from None
        except (BotoCoreError, ClientError) as error:
            raise fail(translate(error, _profile(context))) from None
        except KeyboardInterrupt:
            raise fail(Interrupted("interrupted: this task had changed nothing")) from None

    return wrapper  # type: ignore[return-value]
