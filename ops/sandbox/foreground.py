"""``inv sandbox``: a World in the foreground until interrupted, with the banner that tells an operator
how to point the toolkit at it."""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .world import World


def serve(scenario: str, aws_port: int = 0, api_port: int = 0, rollout_seconds: float = 10.0,
          out: Callable[[str], Any] = print) -> None:
    """Run a world in the foreground until KeyboardInterrupt, then stop cleanly and return."""
    config_dir = Path(tempfile.mkdtemp(prefix="sandbox-world-"))
    try:
        with World(scenario, rollout_seconds, aws_port, api_port) as world:
            # moto and the seeded world live as long as this process: frozen, the collector (and the
            # interpreter's exit, 0.6 s -> 0.05 s) no longer walks them
            gc.freeze()
            try:  # from here on, an interrupt (even during the banner) is the normal way to stop
                config = world.write_runtime_config(config_dir / "sandbox.yaml")
                for line in _banner(world, config):
                    out(line)
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                out("sandbox world: stopping")
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)


def _banner(world: World, config: Path) -> list[str]:
    return [
        f"AWS_ENDPOINT_URL={world.aws_endpoint}",
        f"api.url={world.api_url}",
        f"sandbox world: scenario {world.scenario.name}: {world.scenario.description}",
        "Point the toolkit at it:",
        f"  export AWS_ENDPOINT_URL={world.aws_endpoint}",
        "  export AWS_ACCESS_KEY_ID=testing",
        "  export AWS_SECRET_ACCESS_KEY=testing",
        f"  export AWS_DEFAULT_REGION={world.region}",
        f"  export SANDBOX_BROKER_API_TOKEN={world.token}",
        "  unset AWS_PROFILE",
        f"  inv -f {config} status",
        "Ctrl-C stops the world.",
    ]
