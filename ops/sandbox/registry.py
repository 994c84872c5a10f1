"""The simulated ECR repository: an image history with distinct digests, and tag resolution."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from moto.ecr.models import ECRBackend, Image

from .scenarios import REGION, REPOSITORY, Scenario

MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repo>[a-z0-9._/-]+)(?::(?P<tag>[\w.-]+)|@(?P<digest>sha256:[0-9a-f]{64}))$"
)


@dataclass(frozen=True)
class Release:
    """One pushed image: the build of API revision ``revision``."""

    revision: int
    manifest: str
    digest: str
    pushed_at: datetime
    tags: tuple[str, ...]


def repository_uri(account_id: str) -> str:
    """``<acct>.dkr.ecr.eu-central-1.amazonaws.com/sandbox-broker-api``."""
    return f"{account_id}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"


def _manifest(revision: int) -> str:
    """A small, distinct Docker v2 manifest for the build of ``revision``."""

    def blob(kind: str) -> str:
        return "sha256:" + hashlib.sha256(f"sandbox-broker-{kind}-v{revision}".encode()).hexdigest()

    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": 7000 + revision, "digest": blob("config")},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": 30_000_000 + revision, "digest": blob("layer")}],
        },
        sort_keys=True,
    )


def releases(scenario: Scenario, release_time: datetime) -> list[Release]:
    """The image history: v1..vN (N = the scenario's newest revision), one a day, the last one pushed
    at ``release_time``.

    Pinned scenarios tag each build ``vN`` (and the newest also ``latest``). In
    ``latest-tag-moved`` builds were only ever pushed as ``latest``, so every build but the
    newest is untagged now.
    """
    history = []
    for revision in range(1, scenario.api_revisions + 1):
        manifest = _manifest(revision)
        newest = revision == scenario.api_revisions
        if scenario.latest_tag:
            tags: tuple[str, ...] = ("latest",) if newest else ()
        else:
            tags = (f"v{revision}", "latest") if newest else (f"v{revision}",)
        history.append(
            Release(
                revision=revision,
                manifest=manifest,
                digest="sha256:" + hashlib.sha256(manifest.encode()).hexdigest(),
                pushed_at=release_time - timedelta(days=scenario.api_revisions - revision),
                tags=tags,
            )
        )
    return history


def seed_repository(ecr: ECRBackend, history: list[Release]) -> None:
    """Create the repository and store the images directly.

    Images are built by hand because moto's ``put_image`` deletes an image whose only tag moves
    elsewhere, where ECR keeps it untagged.
    """
    ecr.create_repository(
        repository_name=REPOSITORY, registry_id=None, encryption_config=None,
        image_scan_config=None, image_tag_mutability="MUTABLE", tags=[],
    )
    repository = ecr.repositories[REPOSITORY]
    for release in history:
        image = Image(
            ecr.account_id, release.tags[0] if release.tags else None, release.manifest,  # type: ignore[arg-type]
            REPOSITORY, MANIFEST_MEDIA_TYPE, release.digest,
        )
        image.image_tags = list(release.tags)
        image.image_pushed_at = int(release.pushed_at.timestamp())
        repository.images.append(image)


def keep_untagged_images(ecr: ECRBackend) -> None:
    """Make PutImage move a tag as ECR does: the image the tag leaves stays, untagged.

    moto's ``put_image`` deletes that image; ECR keeps it (so a digest recorded in a service revision
    can still be pulled after ``:latest`` moved on).
    """
    original = ecr.put_image

    def put_image(repository_name: str, image_manifest: str, image_tag: str,
                  image_manifest_mediatype: str | None = None, digest: str | None = None) -> Image:
        repository = ecr.repositories.get(repository_name)
        if repository is not None and repository.image_tag_mutability == "MUTABLE":
            for image in repository.images:
                if image_tag in image.image_tags and image.image_manifest != image_manifest:
                    image.image_tags.remove(image_tag)
                    image.image_tag = image.image_tags[0] if image.image_tags else None  # type: ignore[assignment]
        return original(repository_name, image_manifest, image_tag, image_manifest_mediatype, digest)

    ecr.put_image = put_image  # type: ignore[method-assign]


def resolve_digest(ecr: ECRBackend, image_uri: str) -> str | None:
    """The digest ``image_uri`` resolves to in the simulated ECR now, or None if it cannot."""
    match = _IMAGE_URI.match(image_uri)
    if not match or match["account"] != ecr.account_id or match["region"] != ecr.region_name:
        return None
    if match["digest"]:
        return match["digest"]
    repository = ecr.repositories.get(match["repo"])
    if repository is None:
        return None
    for image in repository.images:
        if match["tag"] in image.image_tags:
            return image.get_image_digest()
    return None


def pullable(ecr: ECRBackend, image_uri: str, digest: str | None) -> bool:
    """Whether a task can pull ``image_uri`` now (by ``digest`` when its deployment resolved one).

    An image in this account's and region's ECR must exist; other registries are not simulated and
    count as reachable.
    """
    match = _IMAGE_URI.match(image_uri)
    if not match or match["account"] != ecr.account_id or match["region"] != ecr.region_name:
        return True
    repository = ecr.repositories.get(match["repo"])
    if repository is None:
        return False
    wanted = digest or match["digest"]
    if wanted:
        return any(image.get_image_digest() == wanted for image in repository.images)
    return any(match["tag"] in image.image_tags for image in repository.images)


def expire_images(ecr: ECRBackend, keep: int) -> list[str]:
    """Put a lifecycle policy keeping the ``keep`` newest images and expire the rest, as ECR would.

    Returns the expired digests.
    """
    policy = {"rules": [{
        "rulePriority": 1, "description": f"Keep only the {keep} most recent images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
        "action": {"type": "expire"},
    }]}
    ecr.put_lifecycle_policy(ecr.account_id, REPOSITORY, json.dumps(policy))
    repository = ecr.repositories[REPOSITORY]
    newest_first = sorted(repository.images, key=lambda image: image.image_pushed_at, reverse=True)
    expired = newest_first[keep:]
    repository.images = [image for image in repository.images if image not in expired]
    return [image.get_image_digest() for image in expired]
