"""``python -m valora_predictor``: serve the predictor app with uvicorn."""

from __future__ import annotations

import uvicorn

from valora_predictor.bootstrap import build_app
from valora_predictor.settings import PredictorSettings


def main() -> None:
    settings = PredictorSettings()
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.predictor_host,
        port=settings.predictor_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.kafka_graceful_timeout_s) + 5,
    )


if __name__ == "__main__":
    main()
