"""AWS access: the session and its error translation (``session``), small views over ECS answers
(``ecs``), image references and digests in ECR (``ecr``), the windowed log reader (``logs``), and who holds
the rollback lock (``holder``).

Nothing here changes AWS; ``ops.change`` owns every call that does.
"""
