"""The one way a Valora service process runs: ``python -m valora_<service> [serve|describe]``.

A service's ``__main__`` is a few lines::

    def serve(settings: GatewaySettings) -> None:
        run_service(build_app(settings), host=settings.gateway_host, port=..., ...)

    if __name__ == "__main__":
        sys.exit(service_main(GatewaySettings, serve))

:func:`run_service` serves an ASGI app with uvicorn (the loop and HTTP parser uvicorn picks:
uvloop and httptools when installed; the app's lifespan required; no access log; uvicorn's
logging left to the root logger) and, when :func:`~valora_observability.lifecycle.fatal` was
called, exits the process with its code after a graceful shutdown. ``describe`` prints what the
process reads from its environment as JSON (:func:`describe`), so tools learn a service's
interface by running it, never by importing it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import uvicorn
from pydantic import AliasChoices, AliasPath, ValidationError
from pydantic_core import to_jsonable_python
from pydantic_settings import BaseSettings

from valora_observability import lifecycle
from valora_observability.logs import LogSettings
from valora_observability.tracing import TraceSettings, configure_tracing

__all__ = ["DESCRIBE_VERSION", "asyncapi", "describe", "run_service", "service_main"]

logger = logging.getLogger(__name__)

DESCRIBE_VERSION = 1
STARTUP_FAILURE = 3  # uvicorn.run's exit status when the app cannot start
S = TypeVar("S", bound=BaseSettings)
_captured: list[Any] | None = None  # set by ``asyncapi``: run_service hands the app over


def run_service(
    app: Any,
    *,
    host: str,
    port: int,
    graceful_timeout_s: float | None,
    keep_alive_s: int = 5,
) -> None:
    """Serve ``app`` until SIGTERM/SIGINT or :func:`~valora_observability.lifecycle.fatal`.

    ``graceful_timeout_s``: how long open connections and tasks may finish on shutdown (None:
    no bound). ``keep_alive_s``: idle keep-alive connections stay open this long (uvicorn's
    default 5 s). Returns normally after a signal; exits with
    :func:`~valora_observability.lifecycle.exit_code` after ``fatal``, and with 3 (as
    ``uvicorn.run``) when the app failed to start.
    """
    if _captured is not None:  # `asyncapi`: the app is wanted, not served
        _captured.append(app)
        return
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_keep_alive=keep_alive_s,
        timeout_graceful_shutdown=None if graceful_timeout_s is None else int(graceful_timeout_s),
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True  # the server's main loop sees it within 0.1 s

    if lifecycle.fatal_reason() is not None:  # fatal while the app was being built
        raise SystemExit(lifecycle.exit_code())
    lifecycle.on_fatal(stop)
    try:
        server.run()
    finally:
        lifecycle.on_fatal(None)
    if lifecycle.fatal_reason() is not None:
        logger.critical(
            "exiting after fatal",
            extra={"reason": lifecycle.fatal_reason(), "exit_code": lifecycle.exit_code()},
        )
        raise SystemExit(lifecycle.exit_code())
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)


def _env_names(name: str, info: Any, prefix: str) -> list[str]:
    alias = info.validation_alias
    if isinstance(alias, str):
        return [alias.upper()]
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str)]
        names += [str(c.path[0]) for c in alias.choices if isinstance(c, AliasPath) and c.path]
        return [n.upper() for n in names]
    if isinstance(alias, AliasPath) and alias.path:
        return [str(alias.path[0]).upper()]
    if info.alias:
        return [str(info.alias).upper()]
    return [f"{prefix}{name}".upper()]


def _fields(cls: type[BaseSettings]) -> dict[str, dict[str, Any]]:
    prefix = str(cls.model_config.get("env_prefix", "") or "")
    out: dict[str, dict[str, Any]] = {}
    for name, info in cls.model_fields.items():
        entry: dict[str, Any] = {
            "env": _env_names(name, info, prefix),
            "required": info.is_required(),
            "description": info.description or "",
        }
        if not info.is_required():
            default = info.get_default(call_default_factory=True, validated_data={})
            entry["default"] = to_jsonable_python(default, fallback=str)
        out[name] = entry
    return out


def describe(settings_type: type[BaseSettings], *, commands: Sequence[str] = ()) -> dict[str, Any]:
    """What a service process reads and accepts, as JSON-ready data.

    ``{"describe_version": 1, "settings_class": ..., "commands": [...], "settings": {field:
    {"env": [names], "required": bool, "default": value, "description": str}}}``; the fields
    of :class:`~valora_observability.logs.LogSettings` and
    :class:`~valora_observability.tracing.TraceSettings` are included (every service reads them
    through ``configure_logging`` and :func:`service_main`).
    """
    fields = _fields(LogSettings)
    fields.update(_fields(TraceSettings))
    fields.update(_fields(settings_type))
    return {
        "describe_version": DESCRIBE_VERSION,
        "settings_class": settings_type.__name__,
        "commands": ["serve", "describe", *commands],
        "settings": fields,
    }


def asyncapi(app: Any, *, title: str) -> dict[str, Any]:
    """What the brokers in ``app`` (an ``AsgiFastStream``, or an ASGI app keeping its broker in
    ``app.state.broker``) consume: ``{"title", "asyncapi": FastStream's AsyncAPI 3.0 document,
    "subscribers": [{"topics": [...], "group": id or None}]}``."""
    from faststream.specification import AsyncAPI  # only this command needs FastStream's

    brokers = list(getattr(app, "brokers", None) or [app.state.broker])
    spec = AsyncAPI(*brokers, title=title, schema_version="3.0.0").to_specification()
    subscribers = [
        {
            "topics": [str(getattr(t, "name", t)) for t in getattr(s, "topics", [])],
            "group": getattr(s, "group_id", None),
        }
        for broker in brokers
        for s in broker.subscribers
    ]
    return {"title": title, "asyncapi": spec.to_jsonable(), "subscribers": subscribers}


def service_main(
    settings_type: type[S],
    serve: Callable[[S], None],
    *,
    argv: Sequence[str] | None = None,
    commands: Sequence[str] = (),
) -> int:
    """``python -m valora_<service> [serve|describe]``; returns the exit status.

    ``asyncapi`` builds the app as ``serve`` would, without serving it, and prints the AsyncAPI
    document of its brokers (FastStream's) as one JSON line. ``serve`` (the default) builds the
    settings (settings that are refused, such as insecure ones outside local, are printed and
    exit 2), turns tracing on when an OTLP endpoint is configured
    (:func:`~valora_observability.tracing.configure_tracing`, named after the service) and
    calls ``serve(settings)``; ``describe``
    prints :func:`describe` as one JSON line and builds nothing. ``commands`` are further
    first words the entry point accepts (listed by ``describe``; the caller dispatches them).
    """
    global _captured
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["describe"]:
        sys.stdout.write(json.dumps(describe(settings_type, commands=commands)) + "\n")
        return 0
    if args == ["asyncapi"]:  # build the app (nothing connects) and print its AsyncAPI
        settings = settings_type()
        _captured = []
        try:
            serve(settings)
        finally:
            apps, _captured = _captured, None
        title = str(getattr(settings, "service_name", "valora"))
        sys.stdout.write(json.dumps(asyncapi(apps[0], title=title)) + "\n")
        return 0
    if args not in ([], ["serve"]):
        sys.stderr.write(f"usage: {sys.argv[0]} [serve|describe]\n")
        return 2
    try:
        settings = settings_type()
    except ValidationError as exc:  # e.g. an insecure setting outside local: says which
        sys.stderr.write(f"{settings_type.__name__}: the settings are refused:\n{exc}\n")
        return 2
    configure_tracing(service=str(getattr(settings, "service_name", "valora")))
    serve(settings)
    return 0
