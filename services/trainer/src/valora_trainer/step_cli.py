"""The trainer image's step command, ``python -m valora_trainer STEP`` (Kubeflow), at the path
``__main__`` and the deploy checks import; the steps are in
:mod:`valora_trainer.entrypoints.step_cli`."""

from valora_trainer.entrypoints.step_cli import STEPS, main

__all__ = ["STEPS", "main"]
