"""Every table, in a module named after the service that owns (writes) it.

Importing this package registers each table on one :data:`metadata` (the declarative
``Base.metadata``), which the one Alembic tree compares against. A table is written only by
its owner; another service reads it through :mod:`valora_db.read_models`.

- :mod:`~valora_db.tables.predictor`: ``predictions``
- :mod:`~valora_db.tables.gateway`: ``batch_jobs``, ``batch_job_rows``
- :mod:`~valora_db.tables.trainer`: the training store, requests and label counters
- :mod:`~valora_db.tables.drift_monitor`: alert state, alerts, outbox, windows, the label join
"""

from valora_db.models import Base
from valora_db.tables import drift_monitor, gateway, predictor, trainer

__all__ = ["drift_monitor", "gateway", "metadata", "predictor", "trainer"]

metadata = Base.metadata
"""Every table of the platform (each module above registered its tables on it)."""
