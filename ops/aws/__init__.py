"""AWS access: the session and its error translation (``session``), small views over ECS answers
(``ecs``), image references and digests in ECR (``ecr``), and the windowed log reader (``logs``).

Nothing here changes AWS; ``ops.change`` owns every call that does.
"""
