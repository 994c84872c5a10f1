"""The garbage collector around the process's long-lived objects: paused while botocore builds them, frozen after."""
from __future__ import annotations

import atexit
import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def building() -> Iterator[None]:
    """No collections while long-lived objects are built (botocore's modules, models and clients: tens of
    thousands of containers that would trigger collections which free nothing); frozen afterwards, so later
    collections (a ten-minute wait, a large capture) and the interpreter's exit do not walk them again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def quick_exit() -> None:
    """At exit, freeze what is left before the interpreter's final collections: they would walk every
    object only to free memory the operating system takes back anyway (~0.1 s of a short ``inv`` task)."""
    atexit.register(gc.freeze)
