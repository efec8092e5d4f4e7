"""``python -m valora_drift_monitor``: serve the drift monitor app with uvicorn."""

from __future__ import annotations

import uvicorn

from valora_drift_monitor.bootstrap import build_app
from valora_drift_monitor.settings import DriftSettings


def main() -> None:
    settings = DriftSettings()
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.drift_host,
        port=settings.drift_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.kafka_graceful_timeout_s) + 5,
    )


if __name__ == "__main__":
    main()
