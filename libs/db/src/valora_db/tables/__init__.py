"""Tables by owning service: each module holds the tables one service writes.

Importing this package registers every table on :data:`valora_db.models.Base.metadata`.
"""

from valora_db.tables import drift_monitor

__all__ = ["drift_monitor"]
