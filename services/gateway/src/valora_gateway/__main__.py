"""``python -m valora_gateway``: serve the gateway with uvicorn."""

from __future__ import annotations

import uvicorn

from valora_gateway.bootstrap import build_app
from valora_gateway.settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.gateway_keep_alive_s,
        timeout_graceful_shutdown=int(settings.kafka_graceful_timeout_s) + 5,
    )


if __name__ == "__main__":
    main()
