"""``python -m valora_trainer [serve]``: serve the trainer (uvicorn, 127.0.0.1:8103 by default).

``python -m valora_trainer snapshot|search-worker|evaluate-gate|promote`` runs one pipeline
step (see :mod:`valora_trainer.step_cli`).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] != "serve":
        from valora_trainer.step_cli import main as run_step

        return run_step(args)
    import uvicorn

    from valora_trainer.bootstrap import build_app
    from valora_trainer.settings import TrainerSettings

    settings = TrainerSettings()
    uvicorn.run(
        build_app(settings),
        host=settings.trainer_host,
        port=settings.trainer_port,
        log_config=None,
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
