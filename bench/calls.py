"""Section 3: AWS calls per task, counted in-process with a botocore ``before-call`` hook.

The tasks run through ``invoke.Program`` in this process (``inv -r <root> TASK``), so ``whoami``
(the ``pre`` task) is counted too. ``ops.aws.session.connect`` is wrapped to register the hook on the new
botocore session's event system (``aws.session.register``) before any client exists; the runtime cache
is cleared before each task. A task that made no call at all would mean the hook no longer fires:
``run`` fails loudly then.
"""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from bench.common import ROOT, inv_env, section, table


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sends = 0
        self.services_per_describe: Counter[int] = Counter()  # DescribeServices: how many services each asked for

    def on_params(self, params: Any, **_: Any) -> None:
        self.services_per_describe[len(params.get("services") or [])] += 1

    def on_call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.endpoint_prefix}:{model.name}"] += 1

    def on_send(self, **_: Any) -> None:
        self.sends += 1


@contextmanager
def counting() -> Iterator[CallCounter]:
    import ops.aws.session
    import ops.runtime

    counter = CallCounter()
    original = ops.aws.session.connect

    def connect(settings: Any) -> Any:
        aws = original(settings)
        aws.session.register("before-call", counter.on_call)
        aws.session.register("before-send", counter.on_send)
        aws.session.register("before-parameter-build.ecs.DescribeServices", counter.on_params)
        return aws

    ops.runtime._runtime.cache_clear()
    ops.aws.session.connect = connect  # type: ignore[assignment]
    try:
        yield counter
    finally:
        ops.aws.session.connect = original  # type: ignore[assignment]
        ops.runtime._runtime.cache_clear()


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_task(args: list[str], env: dict[str, str]) -> tuple[int, CallCounter]:
    from invoke import Program

    with environment(env), counting() as counter, contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        code = 0
        try:
            Program().run(["inv", "-r", str(ROOT), *args], exit=False)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, counter


# (label, scenario, args, fast poll: INVOKE_WAIT_POLL 0.3 -> 1 s instead of the toolkit's default)
TASKS: list[tuple[str, str, list[str], bool]] = [
    ("status", "api-bad-release", ["status"], False),
    ("capture", "api-bad-release", ["capture"], False),
    ("verify", "api-bad-release", ["verify"], False),
    ("rollback.full", "both-failing", ["rollback.full", "--yes"], False),
    ("rollback.full (poll 0.3->1)", "both-failing", ["rollback.full", "--yes"], True),
]
MINIMUM = {
    "status": (4, "sts 1 (caller check, beside the ECS calls) + DescribeServices 1 (both services) + "
                  "DescribeServiceRevisions 1 (the current revisions' digests) + ssm GetParameter 1 (the lock read, "
                  "beside) [ListTasks/DescribeTasks only where ECS names no current revision]"),
    "capture": (8, "sts 1 + DescribeServices 1 + DescribeTaskDefinition 1 + ListTasks 2 + DescribeTasks 1 "
                   "+ FilterLogEvents 1 per group while a group holds one page (over a page: 1 to learn that, "
                   "then ceil(events/10000) over 2 time slices)"),
    "verify": (2, "sts 1 + DescribeServices 1 (both services in one call)"),
    "rollback.full": (0, "capture's 8 + lock (ssm Get/Put/Delete) + DescribeServices 1 + autoscaling Describe 1 + "
                         "Register 1 + target DescribeTaskDefinition 1 + same-image: ECR 1 + UpdateService 2 + "
                         "1 DescribeServices per poll + verify 1"),
}


def run(rollout_seconds: float) -> None:
    from ops.sandbox import World

    rows = []
    details: list[tuple[str, str]] = []
    for label, scenario, args, fast_poll in TASKS:
        with World(scenario, rollout_seconds=rollout_seconds) as world, \
                tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
            code, counter = run_task(args, inv_env(world, Path(tmp), fast_poll=fast_poll))
        assert counter.calls, f"inv {label}: the before-call hook saw no AWS call (is ops.aws.session.connect used?)"
        polls = counter.calls.get("ecs:DescribeServices", 0)
        detail = ", ".join(f"{k.split(':')[1]} {v}" for k, v in sorted(counter.calls.items()))
        per_call = " ".join(f"{n}x{k}" for k, n in sorted(counter.services_per_describe.items(), reverse=True))
        rows.append([label, str(code), str(sum(counter.calls.values())), str(counter.sends), str(polls), per_call,
                     str(MINIMUM[label.split()[0]][0] or "see note"), detail])
        details.append((label, detail))
    section(f"3. AWS calls per task (botocore before-call hook, in-process; rollout_seconds={rollout_seconds}; "
            "the toolkit's default wait.poll unless noted)")
    print(table(["task", "exit", "calls", "http sends", "DescribeServices", "calls x services asked", "claimed min"],
                [r[:-1] for r in rows]))
    for label, detail in details:
        print(f"  {label}: {detail}")
    for label, (_, note) in MINIMUM.items():
        print(f"  min {label}: {note}")
