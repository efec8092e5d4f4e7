"""Every table, in a module named after the service that owns (writes) it.

Importing this package registers each table on one :data:`metadata` (the declarative
``Base.metadata``), which the one Alembic tree compares against. A table is written only by
its owner; another service reads it through :mod:`valora_db.read_models`.

- :mod:`~valora_db.tables.predictor`: ``predictions``
- :mod:`~valora_db.tables.gateway`: ``batch_jobs``, ``batch_job_rows``
- :mod:`~valora_db.tables.drift_monitor`: alert state, alerts, outbox, windows, the label join
- not moved here yet: :mod:`valora_db.training_store` (trainer)
"""

from valora_db import training_store
from valora_db.models import Base
from valora_db.tables import drift_monitor, gateway, predictor

__all__ = ["drift_monitor", "gateway", "metadata", "predictor", "training_store"]

metadata = Base.metadata
"""Every table of the platform (each module above registered its tables on it)."""
