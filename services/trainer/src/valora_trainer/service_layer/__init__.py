"""The trainer's use cases: one training run as a sequence of steps over the domain and the
adapters it is given (cosmicpython's service layer).

- :mod:`.training`: snapshot -> split -> search;
- :mod:`.modelling`: fit -> evaluate -> refit;
- :mod:`.promotion`: register -> gate -> :func:`~.promotion.promote` (the one place that sets
  the ``champion`` alias and publishes ``models.promoted.v1``);
- :mod:`.run`: :func:`~.run.run_training`, the whole run in one process.

The runner (:mod:`valora_trainer.entrypoints.runner`) and the Kubeflow step command
(:mod:`valora_trainer.entrypoints.step_cli`) call them; nothing here builds a client.
"""
