"""The app of a consuming service: one shape for every FastStream service's lifecycle.

:class:`ConsumerRuntime` bundles what every consuming service builds the same way (broker,
error policy, consumer metrics) and :func:`consumer_app` turns it into an ``AsgiFastStream``
with ``/metrics`` and ``/health/*``, whose lifecycle is the same everywhere:

* start-up: the service's topics are created in ``local`` (elsewhere only checked: the
  ``valora ops create-topics`` job owns them), sinks start, the service's own hooks run; once
  the broker consumes, consumer lag is sampled and the start-up heap is frozen;
* readiness: the broker answers, every topic exists, every sink is healthy (a fenced one is
  not), plus the service's own checks;
* shutdown: records waiting in a backoff are released for redelivery first, then the service's
  hooks, then (after the subscribers finished their in-flight work) sinks stop.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker
from valora_contracts import TopicSpec
from valora_observability import (
    HealthCheck,
    ServiceMetrics,
    freeze_heap,
    metrics_app,
    service_routes,
)

from valora_messaging.admin import TopicLister, TopicsExist, prepare_topics
from valora_messaging.broker import create_broker
from valora_messaging.consumer import Subscription, subscribe
from valora_messaging.errors import Classifier
from valora_messaging.fencing import PartitionTransactions
from valora_messaging.lag import ConsumerLag
from valora_messaging.metrics import ConsumerMetrics
from valora_messaging.policy import ErrorPolicy
from valora_messaging.settings import KafkaSettings
from valora_messaging.sink import BatchSink, BrokerSink, transactional_producer

__all__ = ["ConsumerRuntime", "consumer_app"]

Hook = Callable[[], Awaitable[None]]


@dataclass
class ConsumerRuntime:
    """Broker, error policy and metrics of one consuming service."""

    settings: KafkaSettings
    metrics: ServiceMetrics
    broker: KafkaBroker
    consumers: ConsumerMetrics
    policy: ErrorPolicy
    subscribers: list[Any] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        settings: KafkaSettings,
        client_id: str,
        classifiers: Sequence[Classifier] = (),
        on_fatal: Callable[[str], None] | None = None,
        middlewares: Sequence[Any] = (),
    ) -> ConsumerRuntime:
        metrics = ServiceMetrics(settings.service_name)
        consumers = ConsumerMetrics(registry=metrics.registry, service=settings.service_name)
        return cls(
            settings=settings,
            metrics=metrics,
            broker=create_broker(settings=settings, client_id=client_id, middlewares=middlewares),
            consumers=consumers,
            policy=ErrorPolicy(
                service=settings.service_name,
                retry=settings.retry_settings(),
                metrics=consumers,
                classifiers=classifiers,
                on_fatal=on_fatal,
            ),
        )

    def broker_sink(self, source: TopicSpec) -> BrokerSink:
        """At-least-once outputs and dead letters of a consumer of ``source``."""
        return BrokerSink(
            broker=self.broker,
            source=source,
            service=self.settings.service_name,
            metrics=self.consumers,
        )

    def output_sink(
        self, *, source: TopicSpec, group_id: str, exactly_once: bool
    ) -> BrokerSink | PartitionTransactions:
        """Where a consumer of ``source`` writes: per-partition transactions (exactly-once for
        ``read_committed`` readers) or the broker (at-least-once)."""
        if not exactly_once:
            return self.broker_sink(source)
        service = self.settings.service_name
        settings = self.settings
        return PartitionTransactions(
            producer_factory=functools.partial(
                _transactional, settings=settings, client_id=service
            ),
            group_id=group_id,
            source=source,
            service=service,
            metrics=self.consumers,
            on_fatal=self.policy.on_fatal,
        )

    def subscribe(self, subscription: Subscription, **overrides: Any) -> Any:
        """Register a consumer under this service's error policy (see :func:`subscribe`)."""
        subscriber = subscribe(
            self.broker,
            subscription=subscription,
            policy=self.policy,
            settings=self.settings,
            **overrides,
        )
        self.subscribers.append(subscriber)
        return subscriber


def _transactional(
    transactional_id: str, *, settings: KafkaSettings, client_id: str
) -> AIOKafkaProducer:
    return transactional_producer(
        settings=settings, transactional_id=transactional_id, client_id=client_id
    )


def consumer_app(
    runtime: ConsumerRuntime,
    *,
    topics: Sequence[TopicSpec],
    sinks: Sequence[BatchSink] = (),
    ready: Mapping[str, HealthCheck] | None = None,
    on_startup: Sequence[Hook] = (),
    after_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    after_shutdown: Sequence[Hook] = (),
    lag_interval_s: float = 10.0,
) -> AsgiFastStream:
    """The service's app; nothing connects until it starts."""
    settings = runtime.settings
    lag = ConsumerLag(
        metrics=runtime.consumers, subscribers=runtime.subscribers, interval_s=lag_interval_s
    )
    lister = TopicLister(settings=settings)
    topics_exist = TopicsExist(lister=lister, topics=topics)

    async def prepare() -> None:
        await prepare_topics(settings=settings, topics=list(topics))
        await lister.start()
        for sink in sinks:
            await sink.start()

    async def running() -> None:
        await lag.start()
        freeze_heap(reason=f"{settings.service_name} started")

    async def stopping() -> None:
        runtime.policy.close()
        await lag.stop()

    async def stopped() -> None:
        for sink in sinks:
            await sink.stop()
        await lister.stop()

    async def broker_ready() -> bool:
        return bool(await runtime.broker.ping(timeout=1.0))

    async def sinks_ready() -> bool:
        return all(sink.healthy for sink in sinks)

    return AsgiFastStream(
        runtime.broker,
        asgi_routes=service_routes(
            metrics_app=metrics_app(runtime.metrics),
            ready={
                "kafka": broker_ready,
                "topics": topics_exist,
                "sinks": sinks_ready,
                **(ready or {}),
            },
        ),
        on_startup=[prepare, *on_startup],
        after_startup=[*after_startup, running],
        on_shutdown=[stopping, *on_shutdown],
        after_shutdown=[*after_shutdown, stopped],
    )
