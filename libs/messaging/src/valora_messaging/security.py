"""How every Kafka client of the platform authenticates and encrypts: one place, from settings.

:func:`kafka_security` turns the settings (``VALORA_KAFKA_SECURITY_PROTOCOL``,
``VALORA_KAFKA_SASL_*``, ``VALORA_KAFKA_SSL_CAFILE``) into the keyword arguments of aiokafka's
``AIOKafkaProducer``, ``AIOKafkaConsumer`` and ``AIOKafkaAdminClient``; every client in the code
and the tests is built with ``**kafka_security(settings)`` (a unit test walks the code for
clients that are not). :func:`broker_security` is the same configuration as FastStream's
``security=`` object, used by :func:`~valora_messaging.create_broker`.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)
from valora_settings import ValoraSettings

__all__ = ["broker_security", "kafka_security"]

_SASL = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}


def _ssl_context(settings: ValoraSettings) -> ssl.SSLContext | None:
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    return context


def _credentials(settings: ValoraSettings) -> tuple[str, str]:
    password = settings.kafka_sasl_password
    return settings.kafka_sasl_username or "", password.get_secret_value() if password else ""


def kafka_security(settings: ValoraSettings) -> dict[str, Any]:
    """aiokafka client keyword arguments: ``security_protocol`` and, as the protocol needs,
    ``ssl_context`` and ``sasl_mechanism`` / ``sasl_plain_username`` / ``sasl_plain_password``."""
    protocol = settings.kafka_security_protocol
    out: dict[str, Any] = {"security_protocol": protocol}
    context = _ssl_context(settings)
    if context is not None:
        out["ssl_context"] = context
    if protocol.startswith("SASL_"):
        username, password = _credentials(settings)
        out.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=username,
            sasl_plain_password=password,
        )
    return out


def broker_security(settings: ValoraSettings) -> BaseSecurity | None:
    """The same configuration as FastStream's ``KafkaBroker(security=...)``."""
    protocol = settings.kafka_security_protocol
    context = _ssl_context(settings)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username, password = _credentials(settings)
    sasl = _SASL[settings.kafka_sasl_mechanism]
    return sasl(username, password, ssl_context=context, use_ssl=context is not None)
