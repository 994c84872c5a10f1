"""Option 4 (``inv rollback.full``): stop the worker and wait for 0, then roll back the API and wait, then verify."""
from __future__ import annotations

from ops.aws.ecs import short_td
from ops.change.api import RevisionRequest, api_phase
from ops.change.runner import Options, Outcome, run
from ops.change.services import read_pair
from ops.change.worker import stop_phase
from ops.runtime import Runtime, Say

TASK = "rollback.full"


def rollback_full(rt: Runtime, request: RevisionRequest, options: Options, say: Say = print) -> Outcome | None:
    """Never both services changing at once: the runner waits for the worker's 0 before the API phase."""
    pair = read_pair(rt)
    worker, api = stop_phase(rt, pair.worker, say), api_phase(rt, pair, request, say, worker_stopping=True)
    phases = [p for p in (worker, api) if p is not None]
    if not phases:
        say("the worker is stopped and the API already runs the target: nothing to do")
        return None
    api_part = (f"then the API to {short_td(api.plan.steps[-1].after)}" if api is not None
                else f"the API already runs {short_td(pair.api.task_definition)}")
    return run(rt, TASK, f"Option 4: full rollback (worker to 0, {api_part})", phases, options, say=say)
