"""``inv preflight``: is the rollback plan still valid, right now? Read-only: no lock, no capture, no audit
line; only an optional JUnit file is written. Each check is PASS, WARN or FAIL with a one-line detail
(and, for FAIL, the fix)."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, cast

from botocore.exceptions import BotoCoreError, ClientError

from ops.aws.ecr import parse_image_lenient, resolve
from ops.aws.ecs import Service, describe_services, short_td
from ops.aws.history import History
from ops.aws.holder import read_holder
from ops.aws.scaling import scaling_target
from ops.aws.session import Identity, translate
from ops.change import moved_tag
from ops.change.target import Choice, Target, choose, goes_native, read_history, resolve_target
from ops.checks import permissions
from ops.checks.verify import check_healthz
from ops.config import token_from_env
from ops.errors import CredentialsError, ToolkitError
from ops.http import make_session
from ops.report import table
from ops.runtime import AccountMismatch, Runtime

Status = Literal["PASS", "WARN", "FAIL"]
NAMES = ("caller", "permissions", "target", "target-image", "same-image", "worker-scaling", "circuit-breaker",
         "healthz", "token", "capture-dir", "lock")


@dataclass(frozen=True)
class Result:
    name: str
    status: Status
    detail: str
    fix: str = ""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        document = {"name": self.name, "status": self.status, "detail": self.detail}
        if self.fix:
            document["fix"] = self.fix
        return document


@dataclass(frozen=True)
class Preflight:
    results: tuple[Result, ...]
    wrong_account: AccountMismatch | None = None  # the caller is in another account: the task exits 2

    @property
    def ok(self) -> bool:
        return all(r.status != "FAIL" for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """The contract's ``{"ok", "checks": [{"name", "status", "detail"}]}`` (``fix`` added on FAIL)."""
        return {"ok": self.ok, "checks": [r.to_json() for r in self.results]}

    def summary(self) -> str:
        counts = {s: sum(r.status == s for r in self.results) for s in ("PASS", "WARN", "FAIL")}
        verdict = "OK" if self.ok else "FAILED"
        return f"{verdict}: {counts['PASS']} PASS, {counts['WARN']} WARN, {counts['FAIL']} FAIL"


def _pass(name: str, detail: str) -> Result:
    return Result(name, "PASS", detail)


def _warn(name: str, detail: str) -> Result:
    return Result(name, "WARN", detail)


def _fail(name: str, detail: str, fix: str) -> Result:
    return Result(name, "FAIL", detail, fix)


@dataclass
class _Context:
    """What the checks share, read once: the caller, both services, the history and the chosen target."""

    rt: Runtime
    identity: Identity
    services: dict[str, Service]
    history: History | None
    choice: Choice
    target: Target | None = None

    @property
    def api(self) -> Service:
        return self.services[self.rt.settings.api_service.service]


def run(rt: Runtime) -> Preflight:
    """Every check in the contract's order; a wrong account stops after ``caller`` (exit 2 at the edge)."""
    try:
        identity = rt.identity()
    except AccountMismatch as wrong:
        caller = _fail("caller", f"{wrong.identity.arn} is in account {wrong.identity.account}, not aws.account_id "
                       f"{wrong.expected}", "use the profile of the right account (aws.profile / AWS_PROFILE)")
        rest = tuple(Result(n, "FAIL", "not checked: wrong AWS account", "") for n in NAMES[1:])
        return Preflight((caller,) + rest, wrong)
    s = rt.settings
    services = describe_services(rt.ecs, s.cluster, [x.service for x in s.services])
    history, note = read_history(rt, s.api_service.service)
    context = _Context(rt, identity, services, history, choose(s, short_td(services[s.api_service.service].task_definition),
                                                               history, note))
    checks: list[Callable[[_Context], Result]] = [
        _caller, _permissions, _target, _target_image, _same_image, _worker_scaling, _circuit_breaker, _healthz,
        _token, _capture_dir, _lock]
    return Preflight(tuple(_timed(check, context) for check in checks))


def _timed(check: Callable[[_Context], Result], context: _Context) -> Result:
    started = time.monotonic()
    try:
        result = check(context)
    except CredentialsError:
        raise
    except (ToolkitError, BotoCoreError, ClientError) as exc:  # one check that cannot read is a WARN, not a crash
        error = translate(exc, context.rt.settings.aws.profile)
        name = check.__name__.lstrip("_").replace("_", "-")
        result = _warn(name, f"could not check: {error.message}")
    return Result(result.name, result.status, result.detail, result.fix, time.monotonic() - started)


def _caller(c: _Context) -> Result:
    expected = c.rt.settings.aws.account_id
    pinned = f" (aws.account_id {expected})" if expected else " (aws.account_id not set: any account is accepted)"
    return _pass("caller", f"{c.identity.arn}, account {c.identity.account}{pinned}")


def _permissions(c: _Context) -> Result:
    status, detail, fix = permissions.check(c.rt, c.identity, c.api.task_definition)
    return Result("permissions", cast(Status, status), detail, fix)


def _target(c: _Context) -> Result:
    if c.choice.target is None:
        why = c.choice.note or "ECS's deployment history has no SUCCESSFUL deployment of another revision"
        return _fail("target", f"no rollback target: known_good_revision is auto and {why}",
                     "pin ecs.api.known_good_revision, or pass --revision N when rolling back")
    family, _, number = c.choice.target.rpartition(":")
    try:
        c.target = resolve_target(c.rt.ecs, c.api, family, int(number))
    except ToolkitError as error:
        return _fail("target", error.message, error.hint or "pick another revision")
    why = "pinned by ecs.api.known_good_revision" if c.choice.source == "config" else "the last good deployment"
    warning = f"; {c.choice.warning.removeprefix('warning: ')}" if c.choice.warning else ""
    status: Status = "WARN" if c.choice.warning else "PASS"
    return Result("target", status, f"{c.target.name} exists and is ACTIVE ({why}){warning}")


def _target_image(c: _Context) -> Result:
    if c.target is None:
        return _fail("target-image", "no target to check", "fix the target first")
    ecr, account = c.rt.client("ecr"), c.identity.account
    record = c.history.record_of(c.target.name) if c.history is not None else None
    gone, unknown, present = [], [], []
    for container in c.target.document.get("containerDefinitions", []):
        ref = parse_image_lenient(str(container.get("image", "")))
        digest = record.digest_of(container.get("name", "")) if record else None
        if ref is None:
            unknown.append(f"{container.get('name')}: image not understood")
            continue
        wanted = ref if digest is None or ref.digest else parse_image_lenient(ref.pinned(digest))
        resolution = resolve(ecr, wanted or ref, account)
        if resolution.missing:
            gone.append(str(wanted or ref))
        elif resolution.digest is None or resolution.reason:
            unknown.append(f"{wanted or ref} ({resolution.reason or 'unresolved'})")
        else:
            present.append(str(wanted or ref))
    if gone:
        return _fail("target-image", f"{c.target.name}'s image is gone from ECR: {', '.join(gone)} "
                     "(expired by a lifecycle policy?)", "pin another known-good revision whose image exists, or "
                     "keep the image (ECR lifecycle policy); `inv rollback.image` can deploy one that exists")
    if unknown:
        return _warn("target-image", f"cannot check: {', '.join(unknown)}")
    return _pass("target-image", f"{', '.join(present)} still in ECR")


def _same_image(c: _Context) -> Result:
    if c.target is None:
        return _fail("same-image", "no target to check", "fix the target first")
    if short_td(c.api.task_definition) == c.target.name:
        return _pass("same-image", f"{c.api.name} runs {c.target.name} already: nothing to roll back to")
    if goes_native(c.api, c.history, c.choice):
        return _pass("same-image", f"{short_td(c.api.task_definition)} is still rolling out: rollback.api stops it "
                     f"natively, back to {c.target.name} with the digests ECS recorded (no moved tag)")
    running = moved_tag.primary_digests(c.rt, c.api, c.history)
    checks = moved_tag.check_same_image(c.rt, c.target, running)
    try:
        moved_tag.refuse_checked(c.rt, c.api, c.target, lambda _: None, checks, c.choice.last_good)
    except moved_tag.SameImageRefused as refusal:
        alternative = f": {' ; '.join(refusal.commands)}" if refusal.commands else ""
        return _fail("same-image", f"{c.target.name} would redeploy the digest running now (a moved mutable tag)",
                     f"roll back by digest instead{alternative}; pin images by digest in task definitions")
    unknown = [f"{k.container} ({k.note or 'unresolved'})" for k in checks if not k.target_digest]
    if unknown:
        return _warn("same-image", f"cannot tell whether {c.target.name} runs other code: no digest for "
                     + ", ".join(unknown))
    return _pass("same-image", f"{c.target.name} runs different code than the running tasks")


def _worker_scaling(c: _Context) -> Result:
    worker = c.rt.settings.worker_service.service
    notes: list[str] = []
    scaling = scaling_target(c.rt.client("application-autoscaling"), c.rt.settings.cluster, worker, notes.append)
    if notes:
        return _warn("worker-scaling", notes[0].removeprefix("note: "))
    if scaling is None:
        return _pass("worker-scaling", f"no scalable target for {worker}: worker.stop sets desired 0, nothing undoes it")
    return _pass("worker-scaling", f"scalable target {scaling.resource_id} (min {scaling.min_capacity}): worker.stop "
                 "suspends its scaling and sets min 0, worker.start restores both")


def _circuit_breaker(c: _Context) -> Result:
    without = [n for n, svc in c.services.items() if not _breaker(svc).get("enable")]
    if without:
        return _warn("circuit-breaker", f"no deployment circuit breaker on {', '.join(without)}: a failing release "
                     "keeps rolling out until someone stops it")
    rollback = [n for n, svc in c.services.items() if _breaker(svc).get("rollback")]
    return _pass("circuit-breaker", "enabled on both services" + (f" (with rollback on {', '.join(rollback)})" if rollback else ""))


def _breaker(service: Service) -> dict[str, Any]:
    configuration = service.raw.get("deploymentConfiguration") or {}
    return dict(configuration.get("deploymentCircuitBreaker") or {})


def _healthz(c: _Context) -> Result:
    s = c.rt.settings
    with make_session() as session:
        healthy, detail = check_healthz(session, s.api.url, s.api.timeout)
    if healthy:
        return _pass("healthz", detail)
    if detail.startswith(("cannot connect", "connection lost", "timed out", "request failed")):
        return _fail("healthz", f"{s.api.url}/healthz: {detail}", "check api.url and the network")
    return _warn("healthz", f"the API answers, unhealthy: {detail}")


def _token(c: _Context) -> Result:
    name = c.rt.settings.api.token_env
    if token_from_env(c.rt.settings) is None:
        return _warn("token", f"{name} is not set: verification would skip the allocation test")
    return _pass("token", f"{name} is set (not shown)")


def _capture_dir(c: _Context) -> Result:
    folder = Path(c.rt.settings.capture.dir)
    existing = next((p for p in (folder, *folder.resolve().parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return _fail("capture-dir", f"capture.dir {folder} cannot be written (nearest existing: {existing})",
                     "set capture.dir to a folder you can write")
    state = "exists" if existing == folder else f"would be created in {existing}"
    return _pass("capture-dir", f"capture.dir {folder} is writable ({state})")


def _lock(c: _Context) -> Result:
    holder = read_holder(c.rt)
    if holder is None:
        return _pass("lock", f"{c.rt.settings.lock.parameter} is free")
    return _warn("lock", f"held by {holder.describe()}")


def render(report: Preflight) -> str:
    rows = [(r.name, r.status, r.detail + (f" -> fix: {r.fix}" if r.fix else "")) for r in report.results]
    return f"{table(rows, ['check', 'status', 'detail'])}\n{report.summary()}"


def junit(report: Preflight) -> "Any":
    from ops.checks.junit import Case, suite

    return suite("preflight", [Case(r.name, r.seconds, failure=f"{r.detail} (fix: {r.fix})" if r.status == "FAIL" else None,
                                    output=f"WARN: {r.detail}" if r.status == "WARN" else None, kind="PreflightFailed")
                               for r in report.results])
