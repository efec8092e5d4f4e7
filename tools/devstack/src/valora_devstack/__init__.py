"""Valora dev stack: real Kafka (KRaft), PostgreSQL and MLflow as local processes (no Docker),
and Valora's services, one or more replicas each. A developer tool (``valora stack ...``,
pytest fixtures), never imported by libraries or services.

``up()`` / ``down()`` / ``status()`` / ``freeze()`` / ``thaw()`` live in
:mod:`valora_devstack.stack`; one module per component (:mod:`.kafka`, :mod:`.postgres`,
:mod:`.mlflow_server`, :mod:`.services`); every process's output is bounded by
:mod:`.logpipe`; the pytest fixture is in :mod:`.pytest_plugin`.
"""

from valora_devstack.component import ProcessComponent
from valora_devstack.http_process import ServiceProcess
from valora_devstack.model import Component, ComponentStatus, ExternalEndpoint, State
from valora_devstack.process import DevstackError
from valora_devstack.services import parse_replicas, service_process
from valora_devstack.settings import DevstackSettings
from valora_devstack.stack import (
    StackInfo,
    UpResult,
    component,
    components,
    down,
    freeze,
    info,
    register_component,
    status,
    thaw,
    up,
)

__all__ = [
    "Component",
    "ComponentStatus",
    "DevstackError",
    "DevstackSettings",
    "ExternalEndpoint",
    "ProcessComponent",
    "ServiceProcess",
    "StackInfo",
    "State",
    "UpResult",
    "component",
    "components",
    "down",
    "freeze",
    "info",
    "parse_replicas",
    "register_component",
    "service_process",
    "status",
    "thaw",
    "up",
]
