"""Tables by owning service: one module per service, each table defined once.

Importing this package registers every table on :data:`valora_db.models.Base.metadata`.
"""

from valora_db.tables import trainer

__all__ = ["trainer"]
