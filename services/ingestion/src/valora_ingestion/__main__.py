"""``python -m valora_ingestion``: serve the ingestion app with uvicorn."""

from __future__ import annotations

import uvicorn

from valora_ingestion.bootstrap import build_app
from valora_ingestion.settings import IngestionSettings


def main() -> None:
    settings = IngestionSettings()
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.ingestion_host,
        port=settings.ingestion_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.kafka_graceful_timeout_s) + 5,
    )


if __name__ == "__main__":
    main()
