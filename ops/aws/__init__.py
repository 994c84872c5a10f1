"""AWS access: the session and its error translation (``session``), small views over ECS answers
(``ecs``), image references and digests in ECR (``ecr``), the windowed log reader (``logs``), who holds
the rollback lock (``holder``), and the worker's Application Auto Scaling target (``scaling``).

Nothing here changes AWS; ``ops.change`` owns every call that does.
"""
