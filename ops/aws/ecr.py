"""Container image references: parse, validate, and resolve tags to digests in ECR."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ops.errors import UsageError

_IMAGE = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+(?::\d+)?|localhost(?::\d+)?)/)?"
    r"(?P<repository>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_ECR = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
MUTABLE_TAGS = {
    "latest", "stable", "prod", "production", "main", "master", "current", "live", "release", "edge",
    "nightly", "dev", "develop", "staging",
}


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def ecr_account(self) -> str | None:
        match = _ECR.match(self.registry)
        return match.group("account") if match else None

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def pinned(self, digest: str) -> str:
        return f"{self.name}@{digest}"

    @property
    def is_mutable_tag(self) -> bool:
        """A tag (not a digest) that by convention moves: ``latest`` and friends."""
        return self.digest is None and (self.tag or "latest") in MUTABLE_TAGS

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(uri: str) -> ImageRef:
    """Parse ``repository:tag`` or ``repository@sha256:...`` (with a registry); UsageError otherwise."""
    match = _IMAGE.match(uri.strip())
    if not match or not (match.group("tag") or match.group("digest")):
        raise UsageError(
            f"--image {uri!r} is not an image URI with a tag or digest",
            "use REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST "
            "(e.g. 905418046272.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api@sha256:...)",
        )
    return ImageRef(match.group("registry") or "", match.group("repository"), match.group("tag"), match.group("digest"))


def parse_image_lenient(uri: str) -> ImageRef | None:
    """Parse an image as a task definition holds it (no tag means ``latest``); None if unparseable."""
    match = _IMAGE.match(uri.strip())
    if not match:
        return None
    tag = match.group("tag") or (None if match.group("digest") else "latest")
    return ImageRef(match.group("registry") or "", match.group("repository"), tag, match.group("digest"))


@dataclass(frozen=True)
class Resolution:
    """What an image reference points at in ECR right now (digest None: could not tell, and why)."""

    image: ImageRef
    digest: str | None
    reason: str = ""
    missing: bool = False  # ECR answered: no such image (or repository); the reason says which


def resolve(ecr: Any, image: ImageRef, account: str) -> Resolution:
    """Resolve a tag to its digest with ``describe_images`` when the repository is this account's ECR."""
    if image.ecr_account is None:
        return Resolution(image, image.digest, "" if image.digest else f"{image.registry or 'Docker Hub'} is not ECR")
    if image.ecr_account != account:
        return Resolution(image, image.digest, "" if image.digest else f"repository is in another account ({image.ecr_account})")
    image_id = {"imageDigest": image.digest} if image.digest else {"imageTag": image.tag or "latest"}
    try:
        answer = ecr.describe_images(repositoryName=image.repository, imageIds=[image_id])
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return Resolution(image, None, f"not found in ECR ({code})", missing=True)
        return Resolution(image, image.digest, f"cannot read ECR: {code}")
    except BotoCoreError as exc:
        return Resolution(image, image.digest, f"cannot read ECR: {exc}")
    details = answer.get("imageDetails", [])
    if not details:
        return Resolution(image, None, "not found in ECR", missing=True)
    return Resolution(image, details[0]["imageDigest"])


def image_history(ecr: Any, repository: str, registry_id: str | None = None) -> list[dict[str, Any]]:
    """Every image of a repository, newest push first (paginated)."""
    extra = {"registryId": registry_id} if registry_id else {}
    images: list[dict[str, Any]] = []
    for page in ecr.get_paginator("describe_images").paginate(repositoryName=repository, **extra):
        images.extend(page.get("imageDetails", []))
    return sorted(images, key=_pushed_at, reverse=True)


def _pushed_at(image: dict[str, Any]) -> float:
    pushed = image.get("imagePushedAt")
    if isinstance(pushed, datetime):
        return pushed.timestamp()
    return float(pushed or 0)


def short_digest(digest: str | None) -> str:
    return digest.split(":", 1)[-1][:12] if digest else "-"
