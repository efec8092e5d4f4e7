"""The drift monitor's pure logic: values in, values out (no Kafka, SQLAlchemy, MLflow, clock).

* :mod:`.events` — what the monitor reads of a listing or a prediction record.
* :mod:`.dedupe` — the recent event ids of a stream, so a redelivered event counts once.
* :mod:`.windows` — tumbling windows by count and event time, one per stream and key.
* :mod:`.statistics` — a window against the reference; window statistics to evaluations.
* :mod:`.error_estimate` — a prediction window's mean estimated absolute error (before sales).
* :mod:`.alerting` — the lifecycle of one alert condition (hysteresis, cooldown, escalation).
* :mod:`.alert_plan` — evaluations to state changes, ``DriftAlert`` events, retrain requests.
* :mod:`.reference` — the profile and test metrics of the model a window is compared with.
* :mod:`.ports` — what the monitor needs from storage and the model registry (protocols).
"""
