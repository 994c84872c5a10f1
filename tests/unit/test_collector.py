"""ops.collector: the garbage collector is paused while long-lived objects are built, they are frozen after,
and an ``inv`` process's exit does not walk them again."""
from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from ops import collector

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gc_state():
    """Each test leaves the collector as it found it (enabled, nothing it froze left frozen)."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_no_collections_while_building_and_what_was_built_is_frozen(gc_state: None) -> None:
    gc.enable()
    frozen_before = gc.get_freeze_count()
    with collector.building():
        assert not gc.isenabled()
        built = [{"model": i} for i in range(1000)]  # tracked containers, like a botocore model
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(built)


def test_an_error_while_building_still_turns_the_collector_back_on(gc_state: None) -> None:
    gc.enable()
    with pytest.raises(RuntimeError):
        with collector.building():
            raise RuntimeError("client creation failed")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(gc_state: None) -> None:
    gc.disable()
    with collector.building():
        pass
    assert not gc.isenabled()


def test_the_exit_freezes_what_is_left_before_the_interpreters_final_collections() -> None:
    # atexit runs last-registered first: the probe is registered before quick_exit, so it sees the state the
    # interpreter's final collections will find; a cycle with a finalizer shows whether they walked it
    program = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "from ops import collector\n"
        "collector.quick_exit()\n"
        "class Cycle:\n"
        "    def __del__(self): print('collected at exit')\n"
        "c = Cycle(); c.me = c; del c\n"
        "gc.disable()\n"  # the cycle stays uncollected until the exit
    )
    out = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=30,
                         check=True).stdout
    assert "frozen at exit: True" in out
    assert "collected at exit" not in out
