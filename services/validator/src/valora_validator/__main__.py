"""``python -m valora_validator``: serve the validator app with uvicorn."""

from __future__ import annotations

import uvicorn

from valora_validator.bootstrap import build_app
from valora_validator.settings import ValidatorSettings


def main() -> None:
    settings = ValidatorSettings()
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.validator_host,
        port=settings.validator_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.kafka_graceful_timeout_s) + 5,
    )


if __name__ == "__main__":
    main()
