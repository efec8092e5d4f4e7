"""Read models: what a service or tool may read of a table another service owns, as typed
queries (never the writer's internals).

- :mod:`~valora_db.read_models.predictions`: the predictor's ``predictions`` (read by the
  gateway: ``GET /predictions/{id}`` and batch-job progress and results)
- :mod:`~valora_db.read_models.drift_windows`: the drift monitor's judged windows (read by
  ``valora drift report``)
"""

from valora_db.read_models import drift_windows, predictions

__all__ = ["drift_windows", "predictions"]
