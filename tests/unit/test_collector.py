"""ops.collector: the garbage collector is paused while long-lived objects are built, they are frozen after,
and an ``inv`` process's exit does not walk them again."""
from __future__ import annotations

import gc
import subprocess
import sys
import threading

import pytest

from ops import collector
from ops.aws.session import connect
from ops.config import AwsSettings
from tests.helpers import ROOT


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
    gc.unfreeze()
    with collector.building():
        assert not gc.isenabled()
        built = [[i] for i in range(1000)]  # containers the collector tracks, like a botocore model's
        assert all(gc.is_tracked(b) for b in built)
        assert gc.get_freeze_count() == 0
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(built)


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


def test_the_collector_stays_paused_until_the_last_of_several_threads_leaves(gc_state: None) -> None:
    gc.enable()
    first_inside, first_may_leave, first_left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with collector.building():
            first_inside.set()
            first_may_leave.wait(10)
        first_left.set()

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inside.wait(10)
    with collector.building():  # a second thread builds a client while the first is still building
        first_may_leave.set()
        assert first_left.wait(10)
        seen["after the first left"] = gc.isenabled()
    thread.join(10)
    assert seen == {"after the first left": False}  # the second builder was not cut short
    assert gc.isenabled()  # and the last one out turned the collector back on


def test_the_session_builds_its_clients_with_the_collector_paused_and_freezes_them(gc_state: None) -> None:
    gc.enable()
    gc.unfreeze()
    aws = connect(AwsSettings(profile=None, region="eu-central-1"))  # no request is made
    after_import = gc.get_freeze_count()
    assert after_import > 0 and gc.isenabled()
    gc.unfreeze()
    client = aws.client("ssm")
    assert gc.get_freeze_count() > 0 and gc.isenabled()
    assert aws.client("ssm") is client


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


def test_an_inv_process_freezes_at_exit() -> None:
    # tasks.py is what `inv` imports first of ours: importing it registers the exit freeze
    program = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0))\n"
        "import tasks\n"
        "gc.unfreeze()\n"  # only the exit's freeze counts
    )
    out = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=30,
                         check=True).stdout
    assert "frozen at exit: True" in out
