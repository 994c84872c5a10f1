"""What every `inv` run pays before its task starts: the toolkit's bytecode is cached like any package's."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import INV, ROOT, base_env


def _inv_list(tmp_path: Path, **env: str) -> list[str]:
    """`inv --list` with the bytecode cache redirected to tmp_path (PYTHONPYCACHEPREFIX): the cached files' names,
    relative to the project (the checkout's own __pycache__ folders stay untouched)."""
    prefix = tmp_path / "pycache"
    run_env = {k: v for k, v in base_env(tmp_path).items() if k != "PYTHONDONTWRITEBYTECODE"}
    run_env.update(PYTHONPYCACHEPREFIX=str(prefix), **env)
    proc = subprocess.run([INV, "-r", str(ROOT), "--list"], env=run_env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    project = prefix / ROOT.relative_to(ROOT.anchor)
    return sorted(str(p.relative_to(project)) for p in project.rglob("*.pyc")) if project.exists() else []


def test_the_ops_package_is_compiled_once_not_on_every_run(tmp_path: Path) -> None:
    # Invoke turns bytecode writing off for the whole process; tasks.py turns the interpreter's own setting back
    # on for what it imports, and leaves Invoke's choice for tasks.py itself (no tasks.pyc).
    cached = _inv_list(tmp_path)
    tag = sys.implementation.cache_tag
    assert f"ops/cli.{tag}.pyc" in cached and f"ops/config.{tag}.pyc" in cached, cached
    assert not [name for name in cached if name.startswith("tasks.")], cached


def test_pythondontwritebytecode_still_turns_the_cache_off(tmp_path: Path) -> None:
    assert _inv_list(tmp_path, PYTHONDONTWRITEBYTECODE="1") == []
