"""``python -m valora_gateway [serve|describe]``: serve the gateway, or print its settings
as JSON (``describe``: what the process reads from its environment)."""

from __future__ import annotations

import sys

from valora_observability.runner import run_service, service_main

from valora_gateway.settings import GatewaySettings


def serve(settings: GatewaySettings) -> None:
    from valora_gateway.bootstrap import build_app  # describe needs the settings only

    run_service(
        build_app(settings),
        host=settings.gateway_host,
        port=settings.gateway_port,
        graceful_timeout_s=settings.kafka_graceful_timeout_s + 5,
        keep_alive_s=settings.gateway_keep_alive_s,
    )


if __name__ == "__main__":
    sys.exit(service_main(GatewaySettings, serve))
