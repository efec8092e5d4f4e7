"""Every Kafka client authenticates and encrypts as the settings say, through one function.

Three checks: :func:`kafka_security` maps each protocol to the right aiokafka arguments; the
FastStream broker gets the same configuration; and a walk over the code and the tests finds no
``AIOKafkaProducer`` / ``AIOKafkaConsumer`` / ``AIOKafkaAdminClient`` built without
``**kafka_security(...)`` and no FastStream ``KafkaBroker`` built outside ``create_broker``.
"""

from __future__ import annotations

import ast
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from valora_messaging import KafkaSettings, broker_security, create_broker, kafka_security

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}


def _settings(**overrides: object) -> KafkaSettings:
    return KafkaSettings(kafka_bootstrap_servers="127.0.0.1:1", **overrides)  # type: ignore[arg-type]


def test_plaintext_has_no_credentials() -> None:
    assert kafka_security(_settings()) == {"security_protocol": "PLAINTEXT"}
    assert broker_security(_settings()) is None


def test_sasl_ssl_carries_scram_credentials_and_a_tls_context() -> None:
    got = kafka_security(
        _settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_username="ingestion",
            kafka_sasl_password="s3cret-for-test",
        )
    )
    assert isinstance(got.pop("ssl_context"), ssl.SSLContext)
    assert got == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "ingestion",
        "sasl_plain_password": "s3cret-for-test",
    }


def test_sasl_plaintext_has_no_tls_context() -> None:
    got = kafka_security(
        _settings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-256",
            kafka_sasl_username="u",
            kafka_sasl_password="p",
        )
    )
    assert "ssl_context" not in got
    assert got["sasl_mechanism"] == "SCRAM-SHA-256"


@pytest.mark.parametrize(
    "protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"], ids=str.lower
)
def test_the_faststream_broker_connects_with_the_same_configuration(protocol: str) -> None:
    settings = _settings(
        kafka_security_protocol=protocol, kafka_sasl_username="u", kafka_sasl_password="p"
    )
    broker = create_broker(settings=settings, client_id="test")
    connection = {"security_protocol": "PLAINTEXT", **broker._connection_kwargs}  # the default
    expected = kafka_security(settings)
    for key, value in expected.items():
        if key == "ssl_context":
            assert isinstance(connection.get(key), ssl.SSLContext)
        else:
            assert connection.get(key) == value, key
    if not protocol.startswith("SASL_"):
        assert connection.get("sasl_mechanism") in (None, "PLAIN")
        assert not connection.get("sasl_plain_username")


def _calls(path: Path) -> Iterator[tuple[str, int, bool]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in CLIENTS:
            secured = any(
                k.arg is None
                and isinstance(k.value, ast.Call)
                and getattr(k.value.func, "id", getattr(k.value.func, "attr", None))
                == "kafka_security"
                for k in node.keywords
            )
            yield str(name), node.lineno, secured


def _python_files(*dirs: str) -> list[Path]:
    roots = [ROOT / d for d in dirs]
    return [p for r in roots if r.exists() for p in r.rglob("*.py") if ".venv" not in p.parts]


def test_every_hand_made_kafka_client_passes_the_security_settings() -> None:
    files = _python_files("cli", "libs", "services", "tools", "tests")
    found = [(p, name, line, ok) for p in files for name, line, ok in _calls(p)]
    assert len(found) >= 15, "the scan found few clients: it is not looking in the right place"
    assert {name for _, name, _, _ in found} == CLIENTS
    offenders = [f"{p.relative_to(ROOT)}:{line} {name}" for p, name, line, ok in found if not ok]
    assert offenders == []


def test_faststream_brokers_are_built_only_by_create_broker() -> None:
    """``create_broker`` passes ``security=broker_security(settings)``; a broker built anywhere
    else (outside the in-memory unit tests) would connect without it."""
    offenders = []
    for path in _python_files("cli", "libs", "services", "tools", "tests/integration", "tests/e2e"):
        text = path.read_text(encoding="utf-8")
        if "faststream" not in text:
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "KafkaBroker":
                secured = any(k.arg == "security" for k in node.keywords)
                if not secured:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
    source = (ROOT / "libs/messaging/src/valora_messaging/broker.py").read_text()
    assert "security=broker_security(settings)" in source
