"""Settings of the gateway (``VALORA_GATEWAY_*`` plus the shared Kafka knobs)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from valora_messaging import KafkaSettings
from valora_messaging.request_reply import ClientLimits
from valora_settings import Resource, is_local_only

from valora_gateway.domain.access import SCOPES, AuthScope, parse_keys

__all__ = ["MIN_KEY_LENGTH", "GatewaySettings"]

MIN_KEY_LENGTH = 16


class GatewaySettings(KafkaSettings):
    """Knobs of the gateway."""

    uses: ClassVar[frozenset[Resource]] = frozenset({"kafka", "database", "mlflow"})

    service_name: str = Field(default="gateway", description="Name used in logs and metrics.")
    gateway_host: str = Field(default="127.0.0.1", description="HTTP bind address.")
    gateway_port: int = Field(default=8000, ge=0, le=65535, description="HTTP port.")
    gateway_instance_id: str | None = Field(
        default=None,
        description="Names this instance's reply topic; unique per running instance, stable "
        "across its restarts. Default: <hostname>-<port>.",
    )
    gateway_api_keys_predict: SecretStr | None = Field(
        default=None,
        description="API keys (comma-separated) of scope 'predict': POST /predict, "
        "POST /predict/batch. In local a scope without keys is open.",
    )
    gateway_api_keys_publish: SecretStr | None = Field(
        default=None,
        description="API keys of scope 'publish': POST /listings, POST /batch-jobs.",
    )
    gateway_api_keys_read: SecretStr | None = Field(
        default=None,
        description="API keys of scope 'read': GET /predictions/{id}, /batch-jobs/{id}[/results], "
        "/models/champion.",
    )
    gateway_api_keys_admin: SecretStr | None = Field(
        default=None,
        description="API keys of scope 'admin': /metrics, /docs, /openapi.json.",
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
    gateway_microbatch_max_queued: int = Field(
        default=2048,
        ge=1,
        description="Most /predict calls waiting for a micro-batch slot; one more is answered "
        "503 with Retry-After at once (load is shed instead of timing out).",
    )
    gateway_batch_concurrency: int = Field(
        default=4, ge=1, description="Requests of one POST /predict/batch in flight at once."
    )
    gateway_max_batch_calls: int = Field(
        default=8,
        ge=1,
        description="POST /predict/batch calls served at once; one more is answered 503 with "
        "Retry-After at once.",
    )
    gateway_job_chunk_rows: int = Field(
        default=500, ge=1, description="Rows per prediction request of a batch job."
    )
    gateway_upload_workers: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Worker processes that read, check and store batch-job uploads (uploads "
        "beyond this many wait for a worker; the event loop never parses one).",
    )
    gateway_job_max_attempts: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Times a batch job's rows are sent (first send plus re-sends after a "
        "stall) before the job fails with status 'failed' and the reason.",
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
    gateway_topic_wait_s: float = Field(
        default=5.0,
        gt=0,
        description="Outside local, how often a gateway whose topics do not exist yet looks "
        "again (it stays not ready meanwhile; `valora ops create-topics` creates them).",
    )
    gateway_retry_after_s: int = Field(
        default=1,
        ge=0,
        description="Retry-After (seconds) of a 503: the gateway shed the request or is not "
        "ready yet.",
    )
    gateway_db_pool_size: int = Field(default=5, ge=1, description="PostgreSQL pool size.")
    data_contract_path: Path | None = Field(
        default=None,
        description="Data-contract YAML houses to value are held to (the validator reads the "
        "same variable); default: the one shipped with valora_contracts.",
    )

    def client_limits(self) -> ClientLimits:
        """The request-reply client's bounds."""
        return ClientLimits(
            max_items=self.gateway_microbatch_max_items,
            window_s=self.gateway_microbatch_window_ms / 1000.0,
            max_inflight=self.gateway_microbatch_max_inflight,
            max_queued=self.gateway_microbatch_max_queued,
            batch_concurrency=self.gateway_batch_concurrency,
            max_batch_calls=self.gateway_max_batch_calls,
        )

    def api_keys(self) -> dict[AuthScope, tuple[str, ...]]:
        """The keys of every scope."""
        return {s: parse_keys(getattr(self, f"gateway_api_keys_{s}")) for s in SCOPES}

    def insecure_settings(self) -> list[str]:
        """Outside local every scope needs keys of at least 16 characters, none local-only."""
        out = super().insecure_settings()
        for scope, keys in self.api_keys().items():
            name = f"VALORA_GATEWAY_API_KEYS_{scope.upper()}"
            if not keys:
                out.append(f"{name} is empty: set the API keys of scope {scope!r}")
            elif any(len(k) < MIN_KEY_LENGTH or is_local_only(k) for k in keys):
                out.append(f"{name}: every key needs {MIN_KEY_LENGTH}+ characters, not local-only")
        return out

    @property
    def upload_dir(self) -> Path:
        """Where uploads are spooled while they are read (under the state directory)."""
        return self.state_dir / "uploads"

    @property
    def instance_id(self) -> str:
        return self.gateway_instance_id or f"{socket.gethostname()}-{self.gateway_port}"
