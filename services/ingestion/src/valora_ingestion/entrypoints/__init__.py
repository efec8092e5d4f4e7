"""Kafka subscribers of the ingestion service and the handler they call."""
