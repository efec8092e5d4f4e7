"""``make pin-images``: digests are written only as a registry states them; an unreachable
registry leaves the file as it was."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from valora_deploycheck.pin_images import parse_image, pin_file

pytestmark = pytest.mark.deploy

DIGEST = "sha256:" + "ab" * 32
COMPOSE = """services:
  kafka:
    image: apache/kafka:4.1.1
  grafana:
    image: ghcr.io/example/grafana:12.1.1  # a comment stays
  gateway:
    image: valora/gateway:${IMAGE_TAG:-dev}
"""


def _registry(request: httpx.Request) -> httpx.Response:
    """A registry that wants an anonymous bearer token, as Docker Hub and GHCR do."""
    if request.url.path == "/token":
        return httpx.Response(200, json={"token": "anonymous"})
    if request.headers.get("authorization") != "Bearer anonymous":
        challenge = f'Bearer realm="https://{request.url.host}/token",service="registry"'
        return httpx.Response(401, headers={"www-authenticate": challenge})
    return httpx.Response(200, headers={"docker-content-digest": DIGEST})


def test_pulled_images_get_the_registry_digest_and_built_ones_are_left(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(COMPOSE)
    with httpx.Client(transport=httpx.MockTransport(_registry)) as client:
        result = pin_file(path, client, skip=("valora/",))
    text = path.read_text()
    assert f"image: apache/kafka:4.1.1@{DIGEST}\n" in text
    assert f"image: ghcr.io/example/grafana:12.1.1@{DIGEST}  # a comment stays\n" in text
    assert "image: valora/gateway:${IMAGE_TAG:-dev}\n" in text
    assert result.unresolved == {}


def test_an_unreachable_registry_writes_nothing(tmp_path: Path) -> None:
    def offline(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Name or service not known", request=request)

    path = tmp_path / "docker-compose.yml"
    path.write_text(COMPOSE)
    with httpx.Client(transport=httpx.MockTransport(offline)) as client:
        result = pin_file(path, client)
    assert path.read_text() == COMPOSE
    assert set(result.unresolved) == {"apache/kafka:4.1.1", "ghcr.io/example/grafana:12.1.1"}


def test_a_registry_without_a_digest_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(COMPOSE)
    no_digest = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(transport=no_digest) as client:
        result = pin_file(path, client)
    assert path.read_text() == COMPOSE
    assert "stated no digest" in result.unresolved["apache/kafka:4.1.1"]


def test_image_references_are_read_as_docker_does() -> None:
    hub = parse_image("postgres:17.6-bookworm")
    assert hub is not None
    assert (hub.registry, hub.repository, hub.tag) == (
        "registry-1.docker.io",
        "library/postgres",
        "17.6-bookworm",
    )
    ghcr = parse_image("ghcr.io/astral-sh/uv:0.13.9")
    assert ghcr is not None
    assert (ghcr.registry, ghcr.repository) == ("ghcr.io", "astral-sh/uv")
    assert parse_image(f"apache/kafka:4.1.1@{DIGEST}") is None
    assert parse_image("localhost:5000/valora") is None
