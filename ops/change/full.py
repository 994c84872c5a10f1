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
    phases = [p for p in (stop_phase(rt, pair.worker, say),
                          api_phase(rt, pair, request, say, worker_stopping=True)) if p is not None]
    if not phases:
        say("the worker is stopped and the API already runs the target: nothing to do")
        return None
    target = short_td(phases[-1].plan.steps[-1].after)
    return run(rt, TASK, f"Option 4: full rollback (worker to 0, then the API to {target})", phases, options, say=say)
