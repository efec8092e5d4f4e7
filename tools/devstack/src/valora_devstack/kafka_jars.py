"""The Apache Kafka broker's jars: ``$KAFKA_HOME/libs``, or fetched once with Maven into
``<cache_dir>/kafka-<version>/libs`` (the pom is package data)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

from valora_devstack.process import DevstackError
from valora_devstack.settings import DevstackSettings

__all__ = ["kafka_classpath"]

logger = logging.getLogger(__name__)


def _jar_dir_ok(path: Path) -> bool:
    return path.is_dir() and any(path.glob("kafka_2.13-*.jar"))


def kafka_classpath(settings: DevstackSettings) -> str:
    """The java class path of the broker, fetching the jars with Maven when needed."""
    if settings.kafka_home is not None:
        libs = settings.kafka_home.expanduser() / "libs"
        if not _jar_dir_ok(libs):
            raise DevstackError(f"KAFKA_HOME={settings.kafka_home} has no libs/kafka_2.13-*.jar")
        return f"{libs}/*"
    libs = settings.cache_path / f"kafka-{settings.kafka_version}" / "libs"
    if not _jar_dir_ok(libs):
        _fetch_jars(settings.kafka_version, libs)
    return f"{libs}/*"


def _fetch_jars(version: str, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevstackError(
            "Kafka jars are not cached and Maven (mvn) is not installed: install Maven "
            "or set KAFKA_HOME to a Kafka distribution"
        )
    work = libs.parent
    work.mkdir(parents=True, exist_ok=True)
    pom = work / "pom.xml"
    pom.write_text(
        resources.files("valora_devstack").joinpath("resources/kafka-pom.xml").read_text()
    )
    tmp = work / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.monotonic()
    logger.info("fetching Kafka jars with Maven", extra={"version": version, "dir": str(libs)})
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
            "-DincludeScope=runtime",
            f"-Dkafka.version={version}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not _jar_dir_ok(tmp):
        raise DevstackError(
            f"mvn failed to fetch Kafka {version}:\n{result.stdout[-4000:]}"
            f"\n{result.stderr[-4000:]}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    tmp.replace(libs)
    logger.info(
        "Kafka jars fetched",
        extra={"version": version, "fetch_s": round(time.monotonic() - started, 1)},
    )
