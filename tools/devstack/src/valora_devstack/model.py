"""What the dev stack knows about a component: its state, its status line, the protocol every
component satisfies, and endpoints it only checks (:class:`ExternalEndpoint`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import httpx

from valora_devstack.process import DevstackError

__all__ = ["Component", "ComponentStatus", "ExternalEndpoint", "State", "http_ok"]

logger = logging.getLogger(__name__)


class State(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    UNHEALTHY = "unhealthy"
    FROZEN = "frozen"  # stopped by SIGSTOP (``freeze``), until ``thaw``


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: State
    pid: int | None
    address: str
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data


@runtime_checkable
class Component(Protocol):
    """Something the stack starts, stops and reports on."""

    name: str
    depends_on: tuple[str, ...]

    def status(self) -> ComponentStatus: ...

    def up(self) -> bool:
        """Make it running and healthy; True when a process was started (False: was running)."""
        ...

    def down(self) -> bool:
        """Stop it (whole process group) and wait for its ports; True when something stopped."""
        ...


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


class ExternalEndpoint:
    """A component the dev stack does not run (e.g. a configured PostgreSQL): only checked."""

    def __init__(
        self,
        name: str,
        address: str,
        check: Callable[[], bool],
        depends_on: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.address = address
        self._check = check
        self.depends_on = tuple(depends_on)

    def _reachable(self) -> bool:
        try:
            return bool(self._check())
        except Exception:
            logger.debug("external check failed", exc_info=True, extra={"component": self.name})
            return False

    def status(self) -> ComponentStatus:
        state = State.RUNNING if self._reachable() else State.UNHEALTHY
        return ComponentStatus(self.name, state, None, self.address, "external")

    def up(self) -> bool:
        if not self._reachable():
            raise DevstackError(f"{self.name}: external endpoint {self.address} is not reachable")
        logger.info("external endpoint reachable", extra={"component": self.name})
        return False

    def down(self) -> bool:
        return False
