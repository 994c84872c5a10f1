"""Ctrl-C and SIGTERM: a task that changes AWS treats SIGTERM (how CI runners cancel a job) as Ctrl-C,
and once an interrupt is being handled (what changed is said, the lock released), further ones wait."""
from __future__ import annotations

import contextlib
import functools
import signal
from typing import Any, Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_on_sigterm() -> Iterator[None]:
    """Inside the block SIGTERM raises KeyboardInterrupt, as Ctrl-C does; the handler is restored after."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def sigterm_as_ctrl_c(body: F) -> F:
    """Run ``body`` with SIGTERM raising KeyboardInterrupt, as Ctrl-C does (``ctrl_c_on_sigterm``)."""

    @functools.wraps(body)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with ctrl_c_on_sigterm():
            return body(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def hold() -> None:
    """From now on Ctrl-C and SIGTERM are ignored: the first interrupt is being handled (the aftermath said,
    the lock released, the channel told), and a second one must not cut that short."""
    for number in SIGNALS:
        signal.signal(number, signal.SIG_IGN)
