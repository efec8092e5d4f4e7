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

__all__ = ["DESCRIBE_VERSION", "describe", "run_service", "service_main"]

logger = logging.getLogger(__name__)

DESCRIBE_VERSION = 1
STARTUP_FAILURE = 3  # uvicorn.run's exit status when the app cannot start
S = TypeVar("S", bound=BaseSettings)


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
    of :class:`~valora_observability.logs.LogSettings` are included (every service reads them
    through ``configure_logging``).
    """
    fields = _fields(LogSettings)
    fields.update(_fields(settings_type))
    return {
        "describe_version": DESCRIBE_VERSION,
        "settings_class": settings_type.__name__,
        "commands": ["serve", "describe", *commands],
        "settings": fields,
    }


def service_main(
    settings_type: type[S],
    serve: Callable[[S], None],
    *,
    argv: Sequence[str] | None = None,
    commands: Sequence[str] = (),
) -> int:
    """``python -m valora_<service> [serve|describe]``; returns the exit status.

    ``serve`` (the default) builds the settings and calls ``serve(settings)`` (settings that
    are refused, such as insecure ones outside local, are printed and exit 2); ``describe``
    prints :func:`describe` as one JSON line and builds nothing. ``commands`` are further
    first words the entry point accepts (listed by ``describe``; the caller dispatches them).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["describe"]:
        sys.stdout.write(json.dumps(describe(settings_type, commands=commands)) + "\n")
        return 0
    if args not in ([], ["serve"]):
        sys.stderr.write(f"usage: {sys.argv[0]} [serve|describe]\n")
        return 2
    try:
        settings = settings_type()
    except ValidationError as exc:  # e.g. an insecure setting outside local: says which
        sys.stderr.write(f"{settings_type.__name__}: the settings are refused:\n{exc}\n")
        return 2
    serve(settings)
    return 0
