"""The Pre-Rollback Checklist: one folder of diagnostics per run, appearing only when complete.

``<dir>/<YYYYMMDDTHHMMSSZ>/`` holds the runbook's files under the runbook's names, plus
``tasks-before-rollback.json`` (running tasks with image digests) and ``manifest.json``.
It is written aside (``.<stamp>.partial-*``) and renamed into place; a failed capture is renamed
``<stamp>.incomplete`` instead, so nothing that looks complete is left behind.
"""
from __future__ import annotations

import errno
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws import ecs as ecs_mod
from ops.aws.logs import LogFileStats, Pace, Window, write_events, write_window
from ops.aws.session import translate
from ops.config import ServiceSettings, Settings
from ops.errors import CaptureFailed, ToolkitError, UsageError
from ops.files import private_dir, sha256_of, write_json
from ops.redact import redact_task_definition
from ops.runtime import Runtime

TASKDEF_FILE = "api-taskdef-before-rollback.json"
SERVICES_FILE = "services-before-rollback.json"
TASKS_FILE = "tasks-before-rollback.json"
MANIFEST_FILE = "manifest.json"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"

Progress = Callable[[str], None]


def log_file_name(role: str) -> str:
    return f"{role}-logs-before-rollback.txt"


@dataclass
class CaptureResult:
    path: Path
    manifest: dict[str, Any]


@dataclass
class _Run:
    """What one capture accumulates while it writes its files."""

    folder: Path
    window: Window
    files: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def record(self, name: str, events: int | None = None) -> None:
        path = self.folder / name
        entry: dict[str, Any] = {"name": name, "bytes": path.stat().st_size, "sha256": sha256_of(path)}
        if events is not None:
            entry["events"] = events
        self.files.append(entry)


def _publish(work: Path, base: Path, started: datetime, suffix: str = "") -> Path:
    """Rename ``work`` to ``<UTC stamp><suffix>`` under ``base``: the start's second, or the next
    free one when another capture already took it (the rename itself decides, so no race)."""
    for offset in range(60):
        final = base / ((started + timedelta(seconds=offset)).strftime(STAMP_FORMAT) + suffix)
        try:
            os.rename(work, final)
            return final
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    raise CaptureFailed(f"no free folder name under {base} for this capture", f"the capture is in {work}")


def _workspace(base: Path) -> Path:
    """The 0700 folder the capture is written into before it is published."""
    try:
        private_dir(base)
        return Path(tempfile.mkdtemp(prefix=".capture.partial-", dir=base))
    except OSError as exc:
        raise UsageError(
            f"cannot create the capture folder in {base}: {exc.strerror or exc}",
            "pass --out DIR (or set capture.dir) to a folder you can write: nothing was changed",
        ) from None


def _capture_logs(logs: Any, service: ServiceSettings, run: _Run, pace: Pace) -> tuple[str, LogFileStats | None]:
    """Write one service's log file; a missing log group is recorded, not fatal."""
    name = log_file_name(service.role)
    try:
        stats = write_window(logs, service.log_group, run.window, run.folder / name, pace)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        write_events([], run.folder / name)
        run.errors.append(f"log group {service.log_group} not found: {name} is empty")
        return name, LogFileStats(events=0, resorted=False)
    return name, stats


def _write_state(rt: Runtime, settings: Settings, run: _Run, progress: Progress) -> dict[str, ecs_mod.Service]:
    names = [s.service for s in settings.services]
    services = ecs_mod.describe_services(rt.ecs, settings.cluster, names)
    write_json(run.folder / SERVICES_FILE, {"services": [services[n].raw for n in names]})
    run.record(SERVICES_FILE)
    progress(f"  saved {SERVICES_FILE}")
    api = services[settings.api_service.service]
    taskdef = ecs_mod.describe_task_definition(rt.ecs, api.task_definition)
    write_json(run.folder / TASKDEF_FILE, redact_task_definition(taskdef))
    run.record(TASKDEF_FILE)
    progress(f"  saved {TASKDEF_FILE} ({ecs_mod.short_td(api.task_definition)}, secrets redacted)")
    running = ecs_mod.running_tasks_by_service(rt.ecs, settings.cluster, names)
    tasks = {
        "services": [
            {"name": n, "taskDefinition": ecs_mod.short_td(services[n].task_definition),
             "tasks": ecs_mod.task_images(running[n])}
            for n in names
        ]
    }
    write_json(run.folder / TASKS_FILE, tasks)
    run.record(TASKS_FILE)
    progress(f"  saved {TASKS_FILE}")
    return services


def _write_logs(rt: Runtime, settings: Settings, run: _Run, progress: Progress) -> None:
    """API and worker logs, read concurrently (botocore clients are thread-safe)."""
    logs = rt.logs
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="capture-logs") as pool:
        pace = rt.log_pace  # both groups' readers (and any other reader of this run) share FilterLogEvents' quota
        futures = [pool.submit(_capture_logs, logs, s, run, pace) for s in settings.services]
        results = [f.result() for f in futures]
    for name, stats in results:
        assert stats is not None
        run.record(name, events=stats.events)
        progress(f"  saved {name} ({stats.events} events)")


def _manifest(settings: Settings, run: _Run, since: str, outcome: str) -> dict[str, Any]:
    return {
        "capturedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cluster": settings.cluster,
        "region": settings.aws.region,
        "services": [s.service for s in settings.services],
        "window": {"since": since, **run.window.to_json()},
        "files": run.files,
        "errors": run.errors,
        "outcome": outcome,
    }


def run_capture(
    rt: Runtime,
    since: str,
    since_seconds: int,
    out: Path | None = None,
    progress: Progress = print,
) -> CaptureResult:
    """Capture everything the runbook's checklist asks for; raise CaptureFailed on any failure."""
    settings: Settings = rt.settings
    base = Path(out) if out else Path(settings.capture.dir)
    started = datetime.now(timezone.utc)
    work = _workspace(base)
    run = _Run(folder=work, window=Window.last(since_seconds))
    progress(f"capturing diagnostics (logs since {since}) ...")
    try:
        _write_state(rt, settings, run, progress)
        _write_logs(rt, settings, run, progress)
        manifest = _manifest(settings, run, since, "complete")
        write_json(work / MANIFEST_FILE, manifest)
        final = _publish(work, base, started)
    except KeyboardInterrupt:
        shutil.rmtree(work, ignore_errors=True)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure leaves an .incomplete folder and says why
        _fail(settings, run, since, base, started, exc)
    for warning in run.errors:
        progress(f"  warning: {warning}")
    return CaptureResult(path=final, manifest=manifest)


def _as_error(exc: Exception, profile: str | None) -> ToolkitError:
    if isinstance(exc, (ToolkitError, BotoCoreError, ClientError)):
        return translate(exc, profile)
    if isinstance(exc, OSError):
        return CaptureFailed(f"cannot write {exc.filename or 'the capture'}: {exc.strerror or exc}")
    return CaptureFailed(f"{type(exc).__name__}: {exc}")


def _fail(settings: Settings, run: _Run, since: str, base: Path, started: datetime, exc: Exception) -> None:
    error = _as_error(exc, settings.aws.profile)
    run.errors.append(error.message)
    try:
        write_json(run.folder / MANIFEST_FILE, _manifest(settings, run, since, "failed"))
        aside = _publish(run.folder, base, started, ".incomplete")
    except (OSError, ToolkitError):
        aside = run.folder
    failure = CaptureFailed(
        f"capture failed: {error.message.removeprefix('capture failed: ')}",
        f"nothing was changed; the partial capture is in {aside}. {error.hint or 'Fix the cause and run it again.'}",
    )
    failure.exit_code = 2 if error.exit_code == 2 else 1  # bad credentials/access stay exit 2
    raise failure
