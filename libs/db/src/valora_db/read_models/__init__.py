"""Read models: what a service or tool may read of a table another service owns, as typed
queries (never the writer's internals).

- :mod:`~valora_db.read_models.predictions`: the predictor's ``predictions`` (read by the
  gateway: ``GET /predictions/{id}`` and batch-job progress and results)
- :mod:`~valora_db.read_models.drift_windows`: the drift monitor's judged windows (read by
  ``valora drift report``)
- :mod:`~valora_db.read_models.comparables`: the trainer's labelled listings nearest to a house
  (read by the gateway: comparable sales)
- :mod:`~valora_db.read_models.training_requests`: the trainer's training requests (read by
  ``valora train --wait``)
"""

from valora_db.read_models import comparables, drift_windows, predictions, training_requests

__all__ = ["comparables", "drift_windows", "predictions", "training_requests"]
