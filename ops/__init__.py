"""The sandbox-broker rollback toolkit's code; ``tasks.py`` is its thin Invoke front.

Layout (one concern a place):
- ``ops.aws``: AWS access (session and error translation, ECS views, ECR image references, logs,
  the lock's holder, and ``actions``: the one list of every AWS call the toolkit may make);
- ``ops.checks``: the read-only runbook blocks (status, capture, verify + JUnit, triage and its
  decision tree, wait);
- ``ops.change``: the only code that changes AWS: steps and plans as data, the runner (confirm,
  capture, execute, audit, aftermath) and one module per command (api, image, worker, full);
- ``ops.cli`` (flags and the task edge), ``config``, ``errors``, ``runtime``, ``files``, ``redact``,
  ``metrics``, ``report``, ``drill``, ``collector``;
- ``ops.sandbox``: the local rehearsal world (moto plus a rollout simulator and the broker API).
"""
