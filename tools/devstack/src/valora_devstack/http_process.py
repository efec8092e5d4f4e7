"""A process with one HTTP port and a health URL (the Valora services, MLflow)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from valora_devstack.component import ProcessComponent
from valora_devstack.model import http_ok
from valora_devstack.settings import DevstackSettings, HostPort

__all__ = ["ServiceProcess"]


class ServiceProcess(ProcessComponent):
    """A Python (or any) service process with one port and an HTTP health URL."""

    def __init__(
        self,
        settings: DevstackSettings,
        *,
        name: str,
        argv: Sequence[str],
        port: int,
        health_url: str,
        host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
        depends_on: Sequence[str] = (),
        marker: str | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        super().__init__(settings)
        self.name = name
        self._argv = list(argv)
        self._host_port = HostPort(host, port)
        self.health_url = health_url
        self._env = dict(env or {})
        self.depends_on = tuple(depends_on)
        self.marker = marker if marker is not None else " ".join(self._argv[1:3])
        self._start_timeout = start_timeout

    @property
    def address(self) -> str:
        return f"http://{self._host_port}"

    @property
    def ports(self) -> Sequence[HostPort]:
        return [self._host_port]

    @property
    def start_timeout(self) -> float:
        return self._start_timeout

    def argv(self) -> list[str]:
        return list(self._argv)

    def env(self) -> Mapping[str, str]:
        return self._env

    def healthy(self) -> bool:
        return http_ok(self.health_url)
