"""Benchmarks: the toolkit against the runbook's own commands, capture at volume, AWS calls, start-up.

    .venv/bin/python bench/run.py            # full (~5 min on 2 quiet cores, longer under load)
    .venv/bin/python bench/run.py --quick    # smoke (< ~2 min)
    .venv/bin/python bench/run.py --only volume,calls

Not a test: it prints tables. Network only to 127.0.0.1 (the sandbox World).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECTIONS = ("readonly", "option4", "volume", "calls", "startup")


@dataclass(frozen=True)
class Plan:
    reps: int
    option4_reps: int
    rollout_seconds: float
    volumes: list[int]
    volume_reps: int
    volume_variants: list[str]
    option4_variants: list[str]
    startup_reps: int


QUICK = Plan(reps=3, option4_reps=1, rollout_seconds=1.5, volumes=[10_000, 100_000], volume_reps=1,
             volume_variants=["inv", "cli-json"], option4_variants=["runbook", "toolkit"], startup_reps=3)
FULL = Plan(reps=7, option4_reps=5, rollout_seconds=3.0, volumes=[10_000, 100_000, 500_000], volume_reps=2,
            volume_variants=["inv", "cli-json", "cli-text"],
            option4_variants=["runbook", "toolkit", "toolkit-fast-poll"], startup_reps=7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run (< ~2 min)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}")
    parser.add_argument("--poll", type=float, default=1.0, help="the runbook loop's poll interval (watch -n 5)")
    parser.add_argument("--reps", type=int, default=None,
                        help="alternating runs of the read-only and start-up sections (default 7, 3 with --quick; "
                             "more on a noisy machine)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.reps is not None:
        if args.reps < 1:
            parser.error("--reps must be 1 or more")
        plan = dataclasses.replace(plan, reps=args.reps, startup_reps=args.reps)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    os.environ.pop("AWS_PROFILE", None)
    started = time.perf_counter()
    print(f"bench: {'quick' if args.quick else 'full'} run, {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"load average {_load()} (other work on the machine skews every figure)")
    _run(plan, only, args.poll)
    print(f"\nbench finished in {time.perf_counter() - started:.0f} s; load average {_load()}")
    return 0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _run(plan: Plan, only: list[str], poll: float) -> None:
    from bench import calls, side_by_side, startup, volume

    if "readonly" in only:
        side_by_side.read_only(plan.reps, plan.rollout_seconds)
    if "option4" in only:
        side_by_side.option4(plan.option4_reps, plan.rollout_seconds, poll, plan.option4_variants)
    if "volume" in only:
        volume.run(plan.volumes, plan.volume_reps, plan.volume_variants)
    if "calls" in only:
        calls.run(plan.rollout_seconds)
    if "startup" in only:
        startup.run(plan.startup_reps)


if __name__ == "__main__":
    sys.exit(main())
