"""The dev broker's client listener: PLAINTEXT, or SASL_PLAINTEXT with SCRAM credentials.

With ``VALORA_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT`` the listener authenticates with SCRAM
(``VALORA_KAFKA_SASL_MECHANISM``): the credentials of ``VALORA_KAFKA_SASL_USERNAME`` /
``VALORA_KAFKA_SASL_PASSWORD`` are written into the metadata when the storage is formatted
(``kafka-storage format --add-scram``: KRaft has no ZooKeeper to hold them before the broker
runs) and the broker uses them on its own inter-broker connections. Every client of the stack
(its probes, the topic creation, the services it starts) connects with the same settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from valora_devstack.process import DevstackError
from valora_devstack.settings import DevstackSettings, HostPort

if TYPE_CHECKING:
    from valora_messaging import KafkaSettings

__all__ = ["SCRAM_MARKER", "KafkaListeners"]

SCRAM_MARKER = "scram.users"
"""File next to the broker's storage, written when it was formatted with SCRAM credentials."""


class KafkaListeners:
    """Listener properties, format arguments and client settings of the dev broker."""

    def __init__(
        self, settings: DevstackSettings, *, broker: HostPort, controller: HostPort
    ) -> None:
        self._settings = settings
        self._broker = broker
        self._controller = controller

    @property
    def scram(self) -> bool:
        """Whether the client listener authenticates with SCRAM."""
        protocol = self._settings.kafka_security_protocol
        if protocol in ("SSL", "SASL_SSL"):
            raise DevstackError(
                f"the dev stack's broker has no TLS listener ({protocol}): use PLAINTEXT or "
                "SASL_PLAINTEXT, or point VALORA_KAFKA_BOOTSTRAP_SERVERS at your own cluster"
            )
        return protocol == "SASL_PLAINTEXT"

    def client_settings(self) -> KafkaSettings:
        """Settings of a client of this broker (the stack's probes and topic creation)."""
        from valora_messaging import KafkaSettings

        s = self._settings
        return KafkaSettings(
            kafka_bootstrap_servers=str(self._broker),
            kafka_security_protocol=s.kafka_security_protocol,
            kafka_sasl_mechanism=s.kafka_sasl_mechanism,
            kafka_sasl_username=s.kafka_sasl_username,
            kafka_sasl_password=s.kafka_sasl_password,
        )

    def scram_user(self) -> tuple[str, str]:
        s = self._settings
        password = s.kafka_sasl_password.get_secret_value() if s.kafka_sasl_password else ""
        if not s.kafka_sasl_username or not password:
            raise DevstackError(
                "a SCRAM listener needs VALORA_KAFKA_SASL_USERNAME and VALORA_KAFKA_SASL_PASSWORD"
            )
        if any(c in s.kafka_sasl_username + password for c in '",=[]\\'):
            raise DevstackError('SCRAM username and password may not contain " , = [ ] or \\')
        return s.kafka_sasl_username, password

    def properties(self) -> dict[str, str]:
        b, c = self._broker, self._controller
        if not self.scram:
            return {
                "listeners": f"PLAINTEXT://{b},CONTROLLER://{c}",
                "advertised.listeners": f"PLAINTEXT://{b}",
                "inter.broker.listener.name": "PLAINTEXT",
                "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            }
        mechanism = self._settings.kafka_sasl_mechanism
        user, password = self.scram_user()
        login = "org.apache.kafka.common.security.scram.ScramLoginModule"
        return {
            "listeners": f"SASL_PLAINTEXT://{b},CONTROLLER://{c}",
            "advertised.listeners": f"SASL_PLAINTEXT://{b}",
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": mechanism,
            "sasl.mechanism.inter.broker.protocol": mechanism,
            f"listener.name.sasl_plaintext.{mechanism.lower()}.sasl.jaas.config": (
                f'{login} required username="{user}" password="{password}";'
            ),
        }

    def format_args(self) -> list[str]:
        """``kafka-storage format`` arguments adding the SCRAM credentials (none without)."""
        if not self.scram:
            return []
        user, password = self.scram_user()
        mechanism = self._settings.kafka_sasl_mechanism
        return ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
