"""docs/asyncapi.yaml is the AsyncAPI document of what the code does: regenerated from the
services' FastStream apps and the contracts, it must equal the pinned file (`make docs` rewrites
it), and it names every topic of the registry with its contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from valora_cli import asyncapi
from valora_cli.contracts import ASYNCAPI_VERSION
from valora_contracts import ALL_TOPICS, LISTINGS_RAW
from valora_deploycheck.runner import Paths

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def generated() -> tuple[str, list[asyncapi.Consumer]]:
    consumers = asyncapi.discover_consumers()
    text, _ = asyncapi.render(asyncapi.build_document(consumers, version=ASYNCAPI_VERSION))
    return text, consumers


def test_the_pinned_document_matches_the_code(
    generated: tuple[str, list[asyncapi.Consumer]], paths: Paths
) -> None:
    pinned = (paths.root / "docs" / "asyncapi.yaml").read_text()
    assert generated[0] == pinned, "docs/asyncapi.yaml is stale: run `make docs` and commit"
    assert (paths.root / "docs" / "asyncapi.html").is_file()


def test_every_topic_of_the_registry_is_documented(paths: Paths) -> None:
    doc = yaml.safe_load((paths.root / "docs" / "asyncapi.yaml").read_text())
    addresses = {c["address"] for c in doc["channels"].values()}
    assert {t.name for t in ALL_TOPICS} <= addresses
    assert asyncapi.REPLIES.name in addresses  # the gateway's request-reply


def test_the_services_consumers_come_from_their_apps(
    generated: tuple[str, list[asyncapi.Consumer]],
) -> None:
    consumers = generated[1]
    assert asyncapi.Consumer("ingestion", "listings.raw.v1", "valora-ingestion") in consumers
    assert asyncapi.Consumer("gateway", asyncapi.REPLIES.name, None) in consumers
    assert {c.service for c in consumers} == {
        "ingestion",
        "validator",
        "trainer",
        "predictor",
        "gateway",
        "drift-monitor",
    }


def _payload(doc: dict[str, Any], title: str) -> dict[str, Any]:
    messages = doc["components"]["messages"]
    ref = next(m for k, m in messages.items() if k.startswith(title))["payload"]["$ref"]
    return dict(doc["components"]["schemas"][ref.rsplit("/", 1)[-1]])


def test_payloads_are_the_contracts(paths: Paths) -> None:
    doc = yaml.safe_load((paths.root / "docs" / "asyncapi.yaml").read_text())
    payload = _payload(doc, "cli (valora listings publish) publishes listings.raw.v1")
    contract = LISTINGS_RAW.event.model_json_schema()
    assert set(payload["properties"]) == set(contract["properties"])


def test_readme_links_the_document_from_feeding_listings(paths: Paths) -> None:
    readme = (paths.root / "README.md").read_text()
    section = readme.split("## Feeding listings", 1)[1].split("\n## ", 1)[0]
    assert "docs/asyncapi.yaml" in section
    assert Path(paths.root / "docs" / "asyncapi.yaml").is_file()
