"""Valora gateway: REST and batch prediction, talking to the predictor over Kafka."""
