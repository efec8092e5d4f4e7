"""Valora predictor: serves the champion model over Kafka and stores every prediction."""
