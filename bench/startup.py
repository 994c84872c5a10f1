"""Section 4: start-up time of ``inv --list`` / ``inv status --help``, the floor under any Python process
that calls AWS through botocore (import, session, clients: what ``inv status`` and the AWS CLI both pay
before their first request), and where import time goes."""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.common import INV, ROOT, base_env, med, run_measured, section, table

IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")
TOP_LEVEL = ("boto3", "botocore", "s3transfer", "requests", "urllib3", "invoke", "tabulate", "yaml", "ops", "tasks")


def wall(args: list[str], reps: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        env = base_env(Path(tmp))
        times = []
        for _ in range(reps):
            result = run_measured([INV, "-r", str(ROOT), *args], env)
            assert result.code == 0, args
            times.append(result.seconds)
    return med(times)


CLIENTS = "import botocore.session as b; s = b.Session(); [s.create_client(n, region_name='eu-central-1') for n in {names}]"
# what ops.collector does in an inv process: no collections while botocore is imported and builds the clients,
# all of it frozen after, and frozen again at exit
COLLECTED = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from ops import collector; collector.quick_exit()\n"
             "with collector.building():\n    " + CLIENTS.format(names="['ecs', 'sts', 'ssm']"))
# and what ops.aws.session.connect adds: the data loader that looks into the toolkit's service folders only
LOADED = COLLECTED.replace("s = b.Session(); ", "s = b.Session(); from ops.aws import loader, actions; "
                                               "loader.install(s, actions.OPERATIONS); ")
FLOOR = [
    ("python -c pass (interpreter)", [sys.executable, "-c", "pass"]),
    ("python: import botocore.session", [sys.executable, "-c", "import botocore.session"]),
    ("python: + Session + ecs client", [sys.executable, "-c", CLIENTS.format(names="['ecs']")]),
    ("python: + ecs, sts, ssm clients (inv status's)", [sys.executable, "-c", CLIENTS.format(names="['ecs', 'sts', 'ssm']")]),
    ("  the same, ended by os._exit (no interpreter teardown)",
     [sys.executable, "-c", CLIENTS.format(names="['ecs', 'sts', 'ssm']") + "; import os; os._exit(0)"]),
    ("  the same, with ops.collector (paused while building, frozen after and at exit)", [sys.executable, "-c", COLLECTED]),
    ("  + ops.aws.loader (botocore's models for the toolkit's services only)", [sys.executable, "-c", LOADED]),
    ("inv --list (invoke + tasks.py)", [INV, "-r", str(ROOT), "--list"]),
    ("aws --version (the CLI's start-up)", [str(Path(sys.executable).parent / "aws"), "--version"]),
]


def floor(reps: int) -> list[list[str]]:
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        env = base_env(Path(tmp))
        rows = []
        for label, argv in FLOOR:
            times = []
            for _ in range(reps):
                result = run_measured(argv, env)
                assert result.code == 0, label
                times.append(result.seconds)
            rows.append([label, f"{med(times):.2f}", f"{min(times):.2f}"])
    return rows


def import_profile() -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    """``python -X importtime -c 'import tasks'``: total ms, ms per top-level package, slowest ops modules."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import tasks"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    self_ms: dict[str, float] = defaultdict(float)
    ops_cumulative: dict[str, float] = {}
    total = 0.0
    for line in proc.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if not match:
            continue
        own, cumulative, indent, name = int(match[1]), int(match[2]), match[3], match[4]
        top = name.split(".")[0]
        self_ms[top if top in TOP_LEVEL else "stdlib/other"] += own / 1000
        if name == "tasks":
            total = cumulative / 1000
        if top == "ops" and len(indent) <= 4:
            ops_cumulative.setdefault(name, cumulative / 1000)
    return total, sorted(self_ms.items(), key=lambda kv: -kv[1]), sorted(ops_cumulative.items(), key=lambda kv: -kv[1])


def run(reps: int) -> None:
    section(f"4. start-up (median of {reps}) and import time")
    print(table(["command", "wall s"], [["inv --list", f"{wall(['--list'], reps):.2f}"],
                                         ["inv status --help", f"{wall(['status', '--help'], reps):.2f}"]]))
    print("\nthe floor of a process that calls AWS with botocore (no request made yet):")
    print(table(["process", "median s", "best s"], floor(reps)))
    total, by_package, ops_modules = import_profile()
    print(f"\n`import tasks` (python -X importtime): {total:.0f} ms; self time by package:")
    print(table(["package", "ms"], [[k, f"{v:.0f}"] for k, v in by_package if v >= 1]))
    print("\nops modules imported first by tasks.py (cumulative ms, includes what they pulled in first):")
    print(table(["module", "ms"], [[k, f"{v:.0f}"] for k, v in ops_modules[:10]]))
