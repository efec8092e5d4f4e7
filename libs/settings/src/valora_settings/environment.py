"""One notion of environment, and the rules that make a deployment fail closed.

``VALORA_ENVIRONMENT`` is ``local`` (the default: the dev stack, the tests, ``make run``),
``staging`` or ``production``. Outside ``local`` a process refuses to start when a setting it
uses is insecure; each finding names the setting to change. The rules per resource a process
uses (:data:`Resource`, declared by the settings class):

* ``kafka``: SASL authentication with a username and a password that is not a local-only
  default; TLS (``SASL_SSL``) unless ``VALORA_KAFKA_ALLOW_PLAINTEXT=true``;
* ``database``: an explicit ``VALORA_DATABASE_URL`` whose password is not a local-only default;
  ``VALORA_DATABASE_SSLMODE`` ``require``/``verify-ca``/``verify-full`` unless
  ``VALORA_DATABASE_ALLOW_PLAINTEXT=true``;
* ``mlflow``: MLflow credentials (``VALORA_MLFLOW_USERNAME``/``VALORA_MLFLOW_PASSWORD``, not a
  local-only default) unless ``VALORA_MLFLOW_ALLOW_ANONYMOUS=true``.

Services add their own rules (the gateway: an API key for every scope).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

__all__ = [
    "ENCRYPTED_SSLMODES",
    "LOCAL_ONLY_MARK",
    "Environment",
    "InsecureSettingsError",
    "Resource",
    "SecuritySettings",
    "insecure_findings",
    "is_local_only",
]

Environment = Literal["local", "staging", "production"]
Resource = Literal["kafka", "database", "mlflow"]
LOCAL_ONLY_MARK = "local-only"
"""Every committed default secret contains this mark; outside ``local`` none is accepted."""
ENCRYPTED_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})


class InsecureSettingsError(ValueError):
    """Outside ``local``, a setting the process uses is insecure (the message names it)."""


class SecuritySettings(Protocol):
    """The fields of :class:`~valora_settings.ValoraSettings` the rules read."""

    @property
    def kafka_security_protocol(self) -> str: ...
    @property
    def kafka_sasl_username(self) -> str | None: ...
    @property
    def kafka_sasl_password(self) -> SecretStr | None: ...
    @property
    def kafka_allow_plaintext(self) -> bool: ...
    @property
    def database_url_is_local(self) -> bool: ...
    @property
    def database_url_str(self) -> str: ...
    @property
    def database_sslmode(self) -> str | None: ...
    @property
    def database_allow_plaintext(self) -> bool: ...
    @property
    def mlflow_username(self) -> str | None: ...
    @property
    def mlflow_password(self) -> SecretStr | None: ...
    @property
    def mlflow_allow_anonymous(self) -> bool: ...


def is_local_only(secret: SecretStr | str | None) -> bool:
    """True for a committed local default (or an empty value)."""
    if secret is None:
        return True
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return not text.strip() or LOCAL_ONLY_MARK in text


def _kafka(s: SecuritySettings) -> list[str]:
    out: list[str] = []
    protocol = s.kafka_security_protocol
    if not protocol.startswith("SASL_"):
        out.append(
            f"VALORA_KAFKA_SECURITY_PROTOCOL={protocol} does not authenticate: use SASL_SSL "
            "with VALORA_KAFKA_SASL_USERNAME and VALORA_KAFKA_SASL_PASSWORD"
        )
    elif not s.kafka_sasl_username or is_local_only(s.kafka_sasl_password):
        out.append(
            "VALORA_KAFKA_SASL_USERNAME / VALORA_KAFKA_SASL_PASSWORD: set this service's "
            "Kafka credentials (not a local-only default)"
        )
    if protocol in ("PLAINTEXT", "SASL_PLAINTEXT") and not s.kafka_allow_plaintext:
        out.append(
            f"VALORA_KAFKA_SECURITY_PROTOCOL={protocol} is not encrypted: use SASL_SSL, or set "
            "VALORA_KAFKA_ALLOW_PLAINTEXT=true where the network itself is encrypted"
        )
    return out


def _database(s: SecuritySettings) -> list[str]:
    out: list[str] = []
    if s.database_url_is_local:
        out.append("VALORA_DATABASE_URL is not set (the local dev-stack default is refused)")
        return out
    url = urlsplit(s.database_url_str)
    if is_local_only(url.password):
        out.append("VALORA_DATABASE_URL carries a local-only (or empty) password")
    query = parse_qs(url.query)
    mode = s.database_sslmode or next(iter(query.get("ssl", query.get("sslmode", []))), None)
    if mode not in ENCRYPTED_SSLMODES and not s.database_allow_plaintext:
        out.append(
            f"VALORA_DATABASE_SSLMODE={mode or 'unset'} does not encrypt: use require, "
            "verify-ca or verify-full, or set VALORA_DATABASE_ALLOW_PLAINTEXT=true"
        )
    return out


def _mlflow(s: SecuritySettings) -> list[str]:
    if s.mlflow_allow_anonymous:
        return []
    if not s.mlflow_username or is_local_only(s.mlflow_password):
        return [
            "VALORA_MLFLOW_USERNAME / VALORA_MLFLOW_PASSWORD: set this service's MLflow "
            "credentials (not a local-only default), or VALORA_MLFLOW_ALLOW_ANONYMOUS=true"
        ]
    return []


def insecure_findings(settings: SecuritySettings, uses: Collection[Resource]) -> list[str]:
    """What is insecure about ``settings`` for the resources a process ``uses``."""
    out: list[str] = []
    if "kafka" in uses:
        out += _kafka(settings)
    if "database" in uses:
        out += _database(settings)
    if "mlflow" in uses:
        out += _mlflow(settings)
    return out
