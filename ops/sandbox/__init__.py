"""Local rehearsal world for the rollback toolkit: production-like ECS, ECR, Logs, STS and the
broker API on 127.0.0.1, with a rollout simulator on top of moto."""

from .foreground import serve
from .scenarios import SCENARIOS
from .world import World

__all__ = ["SCENARIOS", "World", "serve"]
