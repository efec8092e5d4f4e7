"""Apache Kafka in KRaft mode (combined broker+controller) as a local ``java`` process.

Jars come from :mod:`.kafka_jars`. Storage is formatted once with a cluster id kept in
``<state_dir>/kafka/cluster.id``; the broker logs to ``<state_dir>/logs/kafka.log`` (log4j2,
rolled by size: ``log_max_bytes``, ``log_backups``) and its stdout/stderr to
``kafka.stdout.log`` (bounded by ``crash_log_max_bytes``).

With ``VALORA_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT`` the client listener authenticates with
SCRAM (``VALORA_KAFKA_SASL_MECHANISM``): the credentials of ``VALORA_KAFKA_SASL_USERNAME`` /
``VALORA_KAFKA_SASL_PASSWORD`` are written into the metadata when the storage is formatted
(``kafka-storage format --add-scram``, KRaft has no ZooKeeper to hold them) and the broker uses
them on its own inter-broker connections. Every client of the stack (its probes, the topic
creation, the services it starts) connects with the same settings.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TypeVar

from valora_devstack.component import ExternalEndpoint, ProcessComponent
from valora_devstack.kafka_jars import kafka_classpath
from valora_devstack.kafka_listeners import SCRAM_MARKER, KafkaListeners
from valora_devstack.kafka_probe import HEALTH_TOPIC, produce_consume_roundtrip
from valora_devstack.process import DevstackError, pid_alive, port_open, spawn, wait_until
from valora_devstack.settings import DevstackSettings, HostPort

__all__ = [
    "HEALTH_TOPIC",
    "KafkaBroker",
    "external_kafka",
    "kafka_classpath",
    "produce_consume_roundtrip",
    "run_async",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


def run_async(factory: Callable[[], Awaitable[_T]]) -> _T:
    """Run a coroutine from sync code, also when the caller is inside a running event loop."""

    async def _main() -> _T:
        return await factory()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_main())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _main()).result()


def _new_cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class KafkaBroker(ProcessComponent):
    name = "kafka"
    marker = "kafka.Kafka"

    def __init__(self, settings: DevstackSettings) -> None:
        super().__init__(settings)
        self.classpath = ""
        self.home = settings.state_path / "kafka"
        self.data_dir = self.home / "data"
        self.broker = HostPort(settings.kafka_address.host, settings.kafka_address.port)
        self.controller = HostPort(self.broker.host, settings.kafka_controller_port)
        self.listeners = KafkaListeners(settings, broker=self.broker, controller=self.controller)

    @property
    def address(self) -> str:
        return str(self.broker)

    @property
    def ports(self) -> Sequence[HostPort]:
        return [self.broker, self.controller]

    @property
    def start_timeout(self) -> float:
        return self.settings.kafka_start_timeout_s

    @property
    def log_file(self) -> Path:
        return self.settings.log_dir / "kafka.stdout.log"

    def healthy(self) -> bool:
        return port_open(self.broker.host, self.broker.port)

    # ---- files ----------------------------------------------------------------------------
    def _server_properties(self) -> str:
        c = self.controller
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{c}",
            "controller.listener.names": "CONTROLLER",
            **self.listeners.properties(),
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Offset commits wait out this linger (Kafka 4.x default 5 ms) before the coordinator
            # writes them: 5 ms added to every commit-after-processing cycle.
            "group.coordinator.append.linger.ms": "0",
            "auto.create.topics.enable": "true",
            "log.retention.hours": "168",
        }
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java(self) -> str:
        java = shutil.which("java")
        if java is None:
            raise DevstackError("java not found: install a JDK 17+ (apt-get install default-jdk)")
        return java

    def _jvm_opts(self) -> list[str]:
        return [
            f"-Xmx{self.settings.kafka_heap}",
            "-Xms256m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dkafka.logs.dir={self.settings.log_dir}",
            f"-Dvalora.log.max.bytes={self.settings.log_max_bytes}",
            f"-Dvalora.log.backups={max(1, self.settings.log_backups)}",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
        ]

    def prepare(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "server.properties").write_text(self._server_properties())
        (self.home / "log4j2.properties").write_text(
            resources.files("valora_devstack")
            .joinpath("resources/kafka-log4j2.properties")
            .read_text()
        )
        self.classpath = kafka_classpath(self.settings)
        if not (self.data_dir / "meta.properties").exists():
            self._format()
        elif self.listeners.scram and not (self.home / SCRAM_MARKER).exists():
            raise DevstackError(
                "the broker's storage was formatted without SCRAM credentials: run "
                "`valora stack clean` (or use another VALORA_STATE_DIR) to format it again"
            )

    def _format(self) -> None:
        id_file = self.home / "cluster.id"
        if not id_file.exists():
            id_file.write_text(_new_cluster_id() + "\n")
        cluster_id = id_file.read_text().strip()
        started = time.monotonic()
        result = subprocess.run(
            [
                self._java(),
                *self._jvm_opts(),
                "-cp",
                self.classpath,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.home / "server.properties"),
                "--ignore-formatted",
                *self.listeners.format_args(),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise DevstackError(f"kafka storage format failed:\n{result.stdout}\n{result.stderr}")
        if self.listeners.scram:
            (self.home / SCRAM_MARKER).write_text(f"{self.listeners.scram_user()[0]}\n")
        logger.info(
            "kafka storage formatted",
            extra={"cluster_id": cluster_id, "format_s": round(time.monotonic() - started, 2)},
        )

    def argv(self) -> list[str]:
        return [
            self._java(),
            *self._jvm_opts(),
            "-cp",
            self.classpath,
            "kafka.Kafka",
            str(self.home / "server.properties"),
        ]

    def launch(self) -> int:
        return spawn(
            self.argv(),
            pid_file=self.pid_file,
            log_file=self.log_file,
            cwd=self.home,
            log_max_bytes=self.settings.crash_log_max_bytes,
        )

    # ---- readiness ------------------------------------------------------------------------
    def wait_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self.start_timeout

        def abort() -> str | None:
            return None if pid_alive(pid) else "kafka exited during start-up"

        if not wait_until(self.healthy, timeout=self.start_timeout, abort=abort):
            raise DevstackError("kafka port not open in time")
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if (reason := abort()) is not None:
                raise DevstackError(reason)
            try:
                run_async(lambda: produce_consume_roundtrip(self.listeners.client_settings()))
                return
            except Exception as exc:
                last_error = exc
                logger.debug("kafka not ready yet", extra={"error": repr(exc)})
                time.sleep(0.5)
        raise DevstackError(f"kafka did not accept produce+consume in time: {last_error!r}")

    def converge(self) -> None:
        from valora_contracts import ALL_TOPICS
        from valora_messaging.admin import ensure_topics

        settings = self.listeners.client_settings()
        created = run_async(lambda: ensure_topics(settings=settings, topics=ALL_TOPICS))
        if created:
            logger.info("topics created", extra={"component": self.name, "topics": created})


def external_kafka(settings: DevstackSettings) -> ExternalEndpoint:
    addrs = settings.kafka_bootstrap_list

    def check() -> bool:
        for a in addrs:
            host, _, port = a.rpartition(":")
            if port_open(host, int(port), timeout=2):
                return True
        return False

    return ExternalEndpoint("kafka", settings.kafka_bootstrap_servers, check)
