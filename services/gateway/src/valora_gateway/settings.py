"""Settings of the gateway (``VALORA_GATEWAY_*`` plus the shared Kafka knobs)."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import Field, SecretStr
from valora_messaging import KafkaSettings

__all__ = ["GatewaySettings"]


class GatewaySettings(KafkaSettings):
    """Knobs of the gateway."""

    service_name: str = Field(default="gateway", description="Name used in logs and metrics.")
    gateway_host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    gateway_port: int = Field(default=8000, ge=0, le=65535, description="HTTP port.")
    gateway_instance_id: str | None = Field(
        default=None,
        description="Names this instance's reply topic; unique per running instance, stable "
        "across its restarts. Default: <hostname>-<port>.",
    )
    gateway_api_key: SecretStr | None = Field(
        default=None,
        description="When set, write endpoints (POST /listings, POST /batch-jobs) require this "
        "value in the X-API-Key header.",
    )
    gateway_api_key_for_predict: bool = Field(
        default=False,
        description="Also require the API key on POST /predict and /predict/batch (off, so the "
        "older project's clients keep working unchanged).",
    )
    gateway_max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest JSON request body (bytes)."
    )
    gateway_max_upload_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024, description="Largest batch-job upload (bytes)."
    )
    gateway_batch_max_items: int = Field(
        default=1000, ge=1, description="Most houses in one POST /predict/batch."
    )
    gateway_batch_job_max_rows: int = Field(
        default=200_000, ge=1, description="Most rows in one batch-job upload."
    )
    gateway_keep_alive_s: int = Field(
        default=75,
        ge=1,
        description="How long an idle HTTP keep-alive connection stays open. Longer than "
        "clients and load balancers keep theirs (httpx 5 s, most balancers 60 s): a server "
        "that closes first races a client reusing the connection, which gets a reset.",
    )
    gateway_reply_timeout_s: float = Field(
        default=10.0, gt=0, description="How long a request waits for the predictor (then 504)."
    )
    gateway_microbatch_max_items: int = Field(
        default=256, ge=1, description="Most concurrent /predict calls sent as one request."
    )
    gateway_microbatch_window_ms: float = Field(
        default=0.0,
        ge=0,
        description="Extra time to gather concurrent /predict calls into one request (0: send "
        "whatever queued up while the event loop was busy).",
    )
    gateway_microbatch_max_inflight: int = Field(
        default=32,
        ge=1,
        description="Most micro-batches outstanding at once; further calls queue and form the "
        "next batch.",
    )
    gateway_job_chunk_rows: int = Field(
        default=500, ge=1, description="Rows per prediction request of a batch job."
    )
    gateway_job_poll_s: float = Field(
        default=1.0, gt=0, description="How often running batch jobs are checked."
    )
    gateway_job_stall_s: float = Field(
        default=30.0,
        gt=0,
        description="A running job whose stored predictions did not grow for this long has "
        "its missing rows sent again (idempotent on the predictor).",
    )
    gateway_job_lease_s: float = Field(
        default=60.0, gt=0, description="A gateway owns a running job for this long per renewal."
    )
    gateway_champion_cache_s: float = Field(
        default=5.0, ge=0, description="How long the champion looked up in MLflow is cached."
    )
    gateway_db_pool_size: int = Field(default=5, ge=1, description="PostgreSQL pool size.")
    data_contract_path: Path | None = Field(
        default=None,
        description="Data-contract YAML houses to value are held to (the validator reads the "
        "same variable); default: the one shipped with valora_contracts.",
    )

    @property
    def instance_id(self) -> str:
        return self.gateway_instance_id or f"{socket.gethostname()}-{self.gateway_port}"
