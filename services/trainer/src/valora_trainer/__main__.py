"""``python -m valora_trainer [serve|describe]``: serve the trainer (127.0.0.1:8103 by default),
or print its settings and commands as JSON.

``python -m valora_trainer snapshot|search-worker|evaluate-gate|promote`` runs one pipeline
step (see :mod:`valora_trainer.entrypoints.step_cli`), as the Kubeflow pipeline does.
"""

from __future__ import annotations

import sys

from valora_observability.runner import run_service, service_main

from valora_trainer.settings import TrainerSettings


def serve(settings: TrainerSettings) -> None:
    from valora_trainer.bootstrap import build_app  # describe needs the settings only

    run_service(
        build_app(settings),
        host=settings.trainer_host,
        port=settings.trainer_port,
        graceful_timeout_s=settings.kafka_graceful_timeout_s + 5,
    )


STEPS = ("snapshot", "search-worker", "evaluate-gate", "promote")
"""The pipeline steps this entry point runs (``step_cli`` parses their arguments); named here so
``describe`` lists them without importing the training stack."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in STEPS:
        from valora_trainer.entrypoints.step_cli import main as run_step

        return run_step(args)
    return service_main(TrainerSettings, serve, argv=args, commands=STEPS)


if __name__ == "__main__":
    sys.exit(main())
