"""Kafka subscribers of the validator service and the handler they call."""
