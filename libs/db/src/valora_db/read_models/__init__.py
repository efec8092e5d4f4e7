"""Read models: what a service may read of a table another service owns, as typed queries.

- :mod:`~valora_db.read_models.predictions`: the predictor's ``predictions`` (read by the
  gateway: ``GET /predictions/{id}`` and batch-job progress and results)
"""

from valora_db.read_models import predictions

__all__ = ["predictions"]
