"""Valora dev stack: real Kafka (KRaft), PostgreSQL and MLflow as local processes (no Docker).

``up()`` / ``down()`` / ``status()`` live in :mod:`valora_devstack.stack`; one module per
component (:mod:`.kafka`, :mod:`.postgres`, :mod:`.mlflow_server`); the pytest fixture is in
:mod:`.pytest_plugin`.
"""

from valora_devstack.component import (
    Component,
    ComponentStatus,
    ExternalEndpoint,
    ProcessComponent,
    ServiceProcess,
    State,
)
from valora_devstack.process import DevstackError
from valora_devstack.settings import DevstackSettings
from valora_devstack.stack import (
    StackInfo,
    UpResult,
    components,
    down,
    info,
    register_component,
    status,
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
    "components",
    "down",
    "info",
    "register_component",
    "status",
    "up",
]
