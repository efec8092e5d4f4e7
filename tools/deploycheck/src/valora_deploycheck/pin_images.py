"""``make pin-images``: resolve every pulled image's exact tag to its digest (``name:tag@sha256:``)
in compose and the Kubernetes manifests, where a container registry is reachable.

Each ``image:`` line naming a pulled image (``name:tag`` without a digest; images this
repository builds are left alone) is looked up with the registry's HTTP API (``HEAD
/v2/<name>/manifests/<tag>``, anonymous bearer token when the registry asks for one, as Docker
Hub and GHCR do) and the digest the registry states (``Docker-Content-Digest``) is appended.
An image whose registry cannot be reached or does not answer with a digest is left as it is
and reported: nothing is written that was not read from a registry.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["ImageRef", "Resolution", "parse_image", "pin_file", "resolve_digest"]

_IMAGE_LINE = re.compile(r"^(?P<head>\s*-?\s*image:\s*)(?P<image>[^\s#]+)(?P<tail>.*)$")
_MANIFESTS = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class ImageRef:
    registry: str
    repository: str
    tag: str

    @property
    def text(self) -> str:
        return f"{self.repository}:{self.tag}"


def parse_image(image: str) -> ImageRef | None:
    """``registry/repo:tag`` (Docker Hub by default); ``None`` for a digest, a variable or a
    reference without a tag."""
    if "@" in image or "$" in image or ":" not in image.rsplit("/", 1)[-1]:
        return None
    name, tag = image.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, name.split("/", 1)[1]
    else:
        registry, repository = "registry-1.docker.io", name
        if "/" not in repository:
            repository = f"library/{repository}"
    return ImageRef(registry, repository, tag)


def _token(client: httpx.Client, challenge: str) -> str | None:
    params = dict(_CHALLENGE.findall(challenge))
    realm = params.pop("realm", None)
    if realm is None:
        return None
    answer = client.get(realm, params=params)
    answer.raise_for_status()
    body = answer.json()
    token = body.get("token") or body.get("access_token")
    return str(token) if token else None


def resolve_digest(ref: ImageRef, client: httpx.Client) -> str:
    """The digest the registry states for ``ref`` (``httpx.HTTPError`` when unreachable,
    ``ValueError`` when it answers without a digest)."""
    url = f"https://{ref.registry}/v2/{ref.repository}/manifests/{ref.tag}"
    headers = {"Accept": _MANIFESTS}
    answer = client.head(url, headers=headers)
    challenge = answer.headers.get("www-authenticate", "")
    if answer.status_code == 401 and challenge.lower().startswith("bearer"):
        token = _token(client, challenge.split(" ", 1)[1])
        if token:
            headers["Authorization"] = f"Bearer {token}"
        answer = client.head(url, headers=headers)
    answer.raise_for_status()
    digest = str(answer.headers.get("docker-content-digest", ""))
    if not _DIGEST.match(digest):
        raise ValueError(f"{ref.registry} stated no digest for {ref.text}")
    return digest


@dataclass
class Resolution:
    pinned: dict[str, str]  # image -> image@digest
    unresolved: dict[str, str]  # image -> why


def pin_file(path: Path, client: httpx.Client, *, skip: Iterable[str] = ()) -> Resolution:
    """Append the digest to every resolvable ``image:`` of ``path`` (rewritten in place)."""
    result = Resolution({}, {})
    skipped = tuple(skip)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for number, line in enumerate(lines):
        match = _IMAGE_LINE.match(line.rstrip("\n"))
        if match is None:
            continue
        image = match.group("image").strip("'\"")
        ref = parse_image(image)
        if ref is None or image.startswith(skipped):
            continue
        try:
            digest = result.pinned.get(image) or f"{image}@{resolve_digest(ref, client)}"
        except (httpx.HTTPError, ValueError) as exc:
            result.unresolved[image] = f"{type(exc).__name__}: {exc}"[:200]
            continue
        result.pinned[image] = digest
        newline = "\n" if line.endswith("\n") else ""
        lines[number] = f"{match.group('head')}{digest}{match.group('tail')}{newline}"
    if result.pinned:
        path.write_text("".join(lines), encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    """Pin compose/docker-compose.yml and k8s/**/*.yaml; exit 1 when some image stayed
    unpinned (a registry out of reach: nothing invented)."""
    from valora_deploycheck.runner import Paths

    paths = Paths()
    files = [paths.compose, *sorted(paths.k8s.rglob("*.yaml"))]
    unresolved: dict[str, str] = {}
    with httpx.Client(timeout=10.0, follow_redirects=True) as client:
        for path in files:
            # Images built from this repository (valora/*) are pinned by their release tag.
            result = pin_file(path, client, skip=("valora/",))
            for image, pinned in result.pinned.items():
                sys.stdout.write(f"{path.relative_to(paths.root)}: {image} -> {pinned}\n")
            unresolved.update(result.unresolved)
    for image, why in sorted(unresolved.items()):
        sys.stdout.write(f"not pinned (left as is): {image}: {why}\n")
    return 1 if unresolved else 0
