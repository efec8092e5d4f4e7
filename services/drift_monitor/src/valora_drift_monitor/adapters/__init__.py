"""The drift monitor's connections to the outside: PostgreSQL, MLflow, Kafka, Prometheus.

* :mod:`.alerts_store` — alert states, alert history, the outbox, window statistics.
* :mod:`.outcomes_store` — predictions joined to realised prices; rolling performance.
* :mod:`.reference_loader` — the champion's reference profile and test metrics from MLflow.
* :mod:`.outgoing` — the Kafka records of alerts and retrain requests, and their publisher.
* :mod:`.metrics` — the Prometheus metrics.

The tables themselves are :mod:`valora_db.tables.drift_monitor` (one Alembic tree for all).
"""
