"""``python -m valora_ingestion [serve|describe]``: serve the ingestion app, or print its settings
as JSON (``describe``: what the process reads from its environment)."""

from __future__ import annotations

import sys

from valora_observability.runner import run_service, service_main

from valora_ingestion.settings import IngestionSettings


def serve(settings: IngestionSettings) -> None:
    from valora_ingestion.bootstrap import build_app  # describe needs the settings only

    run_service(
        build_app(settings),
        host=settings.ingestion_host,
        port=settings.ingestion_port,
        graceful_timeout_s=settings.kafka_graceful_timeout_s + 5,
    )


if __name__ == "__main__":
    sys.exit(service_main(IngestionSettings, serve))
