"""The predictor's outside world: MLflow (model loading), PostgreSQL (the predictions table),
Kafka (replies, made events, alerts) and its metrics."""
