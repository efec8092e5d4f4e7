"""``python -m valora_drift_monitor [serve|describe]``: serve the drift monitor app, or print
its settings as JSON (``describe``: what the process reads from its environment)."""

from __future__ import annotations

import sys

from valora_observability.runner import run_service, service_main

from valora_drift_monitor.settings import DriftSettings


def serve(settings: DriftSettings) -> None:
    from valora_drift_monitor.bootstrap import build_app  # describe needs the settings only

    run_service(
        build_app(settings),
        host=settings.drift_host,
        port=settings.drift_port,
        graceful_timeout_s=settings.kafka_graceful_timeout_s + 5,
    )


if __name__ == "__main__":
    sys.exit(service_main(DriftSettings, serve))
