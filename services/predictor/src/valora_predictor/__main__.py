"""``python -m valora_predictor [serve|describe]``: serve the predictor app, or print its settings
as JSON (``describe``: what the process reads from its environment)."""

from __future__ import annotations

import sys

from valora_observability.runner import run_service, service_main

from valora_predictor.settings import PredictorSettings


def serve(settings: PredictorSettings) -> None:
    from valora_predictor.bootstrap import build_app  # describe needs the settings only

    run_service(
        build_app(settings),
        host=settings.predictor_host,
        port=settings.predictor_port,
        graceful_timeout_s=settings.kafka_graceful_timeout_s + 5,
    )


if __name__ == "__main__":
    sys.exit(service_main(PredictorSettings, serve))
