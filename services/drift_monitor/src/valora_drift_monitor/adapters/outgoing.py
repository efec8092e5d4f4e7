"""The Kafka records the monitor sends: alerts to on-call, retrain requests to the trainer."""

from __future__ import annotations

from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from valora_contracts import DRIFT_ALERTS, TRAINING_REQUESTS, DriftAlert, TrainingRequested
from valora_messaging import OutgoingRecord, encode_event, publish_many

from valora_drift_monitor.domain.alert_plan import Plan

__all__ = ["BrokerPublisher", "event_record", "plan_records"]


def event_record(event: DriftAlert | TrainingRequested) -> OutgoingRecord:
    """An alert keyed by its condition; a retrain request keyed by its model."""
    if isinstance(event, DriftAlert):
        return OutgoingRecord(DRIFT_ALERTS.name, encode_event(event), event.dedupe_key.encode())
    return OutgoingRecord(TRAINING_REQUESTS.name, encode_event(event), event.model_name.encode())


def plan_records(plan: Plan) -> list[OutgoingRecord]:
    """The records of a plan's events, in :attr:`Plan.events` order."""
    return [event_record(event) for event in plan.events]


class BrokerPublisher:
    """Publishes through the app's broker and awaits every acknowledgement."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def publish(self, records: Sequence[OutgoingRecord]) -> int:
        return await publish_many(broker=self._broker, records=records)
