"""The request-reply client's reply counters on ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from valora_messaging.request_reply import ReplyStats

__all__ = ["ReplyStatsCollector"]

_OUTCOMES = ("matched", "unmatched", "bad")


class ReplyStatsCollector:
    """``valora_gateway_replies_total{outcome}``: matched (answered a waiting request),
    unmatched (nobody waited: a late reply or a batch-job chunk's), bad (invalid: logged and
    handed to the dead-letter hook)."""

    def __init__(self, *, service: str, stats: ReplyStats) -> None:
        self._service = service
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "valora_gateway_replies",
            "Records read from this gateway's reply topic, by outcome.",
            labels=["service", "outcome"],
        )
        for outcome in _OUTCOMES:
            family.add_metric([self._service, outcome], getattr(self._stats, outcome))
        yield family
