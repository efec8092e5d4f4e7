"""Valora drift monitor: data, prediction and realised-performance drift, alerts for on-call.

Start it with ``python -m valora_drift_monitor``; compose it with :func:`bootstrap.build_app`.

* ``domain/`` — pure logic: windows, dedupe, statistics, the alert lifecycle (no I/O).
* ``adapters/`` — PostgreSQL stores, the MLflow reference loader, Kafka records, metrics.
* ``entrypoints/`` — subscribers, handlers, timers and health checks: decode, call, map errors.
* ``bootstrap.py`` — the composition root; ``settings.py`` — ``VALORA_DRIFT_*``;
  ``errors.py`` — the exception tree.
"""
