"""``python -m valora_validator [serve|describe]``: serve the validator app, or print its settings
as JSON (``describe``: what the process reads from its environment)."""

from __future__ import annotations

import sys

from valora_observability.runner import run_service, service_main

from valora_validator.settings import ValidatorSettings


def serve(settings: ValidatorSettings) -> None:
    from valora_validator.bootstrap import build_app  # describe needs the settings only

    run_service(
        build_app(settings),
        host=settings.validator_host,
        port=settings.validator_port,
        graceful_timeout_s=settings.kafka_graceful_timeout_s + 5,
    )


if __name__ == "__main__":
    sys.exit(service_main(ValidatorSettings, serve))
