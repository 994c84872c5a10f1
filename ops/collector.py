"""The garbage collector around the process's long-lived objects: paused while botocore builds them, frozen after."""
from __future__ import annotations

import atexit
import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_builders = 0  # threads inside building() now: the collector resumes when the last one leaves
_was_enabled = False


@contextlib.contextmanager
def building() -> Iterator[None]:
    """No collections while long-lived objects are built (botocore's modules, models and clients: tens of
    thousands of containers that would trigger collections which free nothing); frozen afterwards, so later
    collections (a ten-minute wait, a large capture) and the interpreter's exit do not walk them again.
    Safe from several threads: the collector stays paused until the last of them leaves."""
    global _builders, _was_enabled
    with _lock:
        if _builders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _builders += 1
    try:
        yield
    finally:
        with _lock:
            _builders -= 1
            if _builders == 0:
                gc.freeze()
                if _was_enabled:
                    gc.enable()


def quick_exit() -> None:
    """At exit, freeze what is left before the interpreter's final collections: they would walk every
    object only to free memory the operating system takes back anyway (~0.1 s of a short ``inv`` task)."""
    atexit.register(gc.freeze)
