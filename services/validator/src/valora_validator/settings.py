"""Settings of the validator service (``VALORA_VALIDATOR_*`` plus the shared Kafka knobs)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from valora_messaging import KafkaSettings

__all__ = ["ValidatorSettings"]


class ValidatorSettings(KafkaSettings):
    """Knobs of the validator service."""

    service_name: str = Field(default="validator", description="Name used in logs and metrics.")
    kafka_batch_max_records: int = Field(
        default=2000, ge=1, description="Records handed to the batch handler at most."
    )
    validator_host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    validator_port: int = Field(default=8102, ge=0, le=65535, description="HTTP port.")
    validator_group_id: str = Field(default="valora-validator", description="Consumer group.")
    data_contract_path: Path | None = Field(
        default=None,
        description="Data-contract YAML (the gateway reads the same variable); default: the "
        "one shipped with valora_contracts.",
    )
    validator_exactly_once: bool = Field(
        default=True,
        description="Write outcomes, dead letters and offsets in one Kafka transaction, and "
        "read the ingested topic with read_committed.",
    )
