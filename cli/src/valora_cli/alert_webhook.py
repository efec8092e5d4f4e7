"""``valora alerts webhook``: a small Alertmanager webhook receiver that prints each page.

The compose stack runs it as ``alert-webhook`` (Alertmanager's default receiver), so grouped
notifications and their resolution show in ``docker compose logs alert-webhook``; locally it is a
quick way to watch what on-call would get (point a dev-stack Alertmanager at it with
``VALORA_ALERT_WEBHOOK_URL=http://127.0.0.1:9095/alerts``). Real deployments send pages to
Slack or PagerDuty instead (docs/runbooks.md).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["format_notification", "serve"]

logger = logging.getLogger(__name__)
MAX_BODY = 4 * 1024 * 1024


def format_notification(payload: dict[str, Any]) -> list[str]:
    """One line for the notification (status, group, alert count) and one per alert."""
    group = ", ".join(f"{k}={v}" for k, v in sorted((payload.get("groupLabels") or {}).items()))
    alerts = payload.get("alerts") or []
    lines = [f"{str(payload.get('status', '?')).upper():<8} [{group}] {len(alerts)} alert(s)"]
    for alert in alerts:
        labels = alert.get("labels") or {}
        notes = alert.get("annotations") or {}
        lines.append(
            f"  {alert.get('status', '?')!s:<8} {labels.get('severity', '-'):<8} "
            f"{labels.get('alertname', '?')}  {notes.get('summary', '')}  "
            f"(since {alert.get('startsAt', '?')}; runbook {notes.get('runbook_url', '-')})"
        )
    return lines


def _handler(emit: Callable[[dict[str, Any]], None]) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # a health check
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.send_error(413, "notification too large")
                return
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self.send_error(400, "not JSON")
                return
            emit(payload)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug(format, *args)

    return Receiver


def serve(*, host: str, port: int, as_json: bool) -> None:
    """Serve until interrupted, writing every notification to stdout."""

    def emit(payload: dict[str, Any]) -> None:
        if as_json:
            sys.stdout.write(json.dumps(payload) + "\n")
        else:
            sys.stdout.write("\n".join(format_notification(payload)) + "\n")
        sys.stdout.flush()

    server = ThreadingHTTPServer((host, port), _handler(emit))
    sys.stderr.write(f"receiving Alertmanager webhooks on http://{host}:{port}/\n")
    try:
        server.serve_forever()
    finally:
        server.server_close()
