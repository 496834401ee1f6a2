"""The composition root every service shares: build everything once, run, close."""

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from crm_runtime.bus import BulkPublisher, build_broker, ensure_topics
from crm_runtime.config_store import ConfigStore
from crm_runtime.delivery import ManyHandler, OnHold, subscribe
from crm_runtime.health import ConsumerHealth, HealthServer
from crm_runtime.logs import setup_logging
from crm_runtime.mongo import Document, connect
from crm_runtime.outages import Outages, unavailable
from crm_runtime.patience import OUTAGE_FIRST_WAIT_S
from crm_runtime.settings import ServiceSettings
from crm_runtime.tracing import build_tracer_provider
from crm_schemas import groups
from crm_schemas.config import ConfigEvent
from crm_schemas.topics import Topics

log = logging.getLogger(__name__)

TOPIC_PARTITIONS = 4
Alongside = Callable[[], Coroutine[Any, Any, None]]  # a task run beside the consumers


@dataclass
class Runtime:
    """Everything a service's handlers need, built once at start-up."""

    name: str
    settings: ServiceSettings
    tracer: TracerProvider
    broker: KafkaBroker
    bulk: BulkPublisher
    mongo: AsyncMongoClient[Document]
    config: ConfigStore
    health: ConsumerHealth
    probes: HealthServer | None = None
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    outages: Outages = field(default_factory=Outages)

    @property
    def db(self) -> AsyncDatabase[Document]:
        """The service's own database: no other service reads or writes it."""
        return self.mongo[self.settings.mongo_db]

    @property
    def topics(self) -> Topics:
        """Topic names of this deployment."""
        return self.settings.topics

    def consume(
        self,
        topic: str,
        group: str,
        contract: Any,
        handler: Callable[[Any], Awaitable[None]],
        *,
        batch: bool = True,
        many: ManyHandler | None = None,
        on_hold: OnHold | None = None,
    ) -> None:
        """Subscribe a handler at least once, traced by this service, in batches by default.

        Pass ``batch=False`` for handlers that run long (a batch must end within Kafka's
        poll interval). ``many`` handles a whole poll at once (bulk reads and writes),
        ``handler`` being its fallback one record at a time. ``on_hold(event, dependency)``
        is told when an event starts waiting for a dependency that is down.
        """
        subscribe(
            self.broker,
            self.settings,
            topic=topic,
            group=group,
            contract=contract,
            handler=handler,
            batch=batch,
            many=many,
            tracer_provider=self.tracer,
            outages=self.outages,
            on_hold=on_hold,
            listener=self.health.listener(self.settings.group(group)),
            releasing=self.health.releasing,
        )


def build_runtime(name: str, settings: ServiceSettings) -> Runtime:
    """Logging, tracing, broker, database and config projection for one service."""
    setup_logging(name, settings.log_level, settings.log_json)
    tracer = build_tracer_provider(name, settings.otel_exporter, settings.otel_endpoint)
    broker = build_broker(settings, name, tracer)
    bulk = BulkPublisher(settings, name, tracer)
    mongo = connect(settings)
    config = ConfigStore(mongo[settings.mongo_db])
    health = ConsumerHealth(settings.handler_stall_s, settings.rebalance_wait_s)
    broker.add_middleware(health.middleware)
    probes = None if settings.health_port is None else HealthServer(health, settings.health_port)
    return Runtime(name, settings, tracer, broker, bulk, mongo, config, health, probes)


def follow_config(
    runtime: Runtime, then: Callable[[ConfigEvent], Awaitable[None]] | None = None
) -> None:
    """Keep the service's projection of workspaces and accounts current; ``then`` runs
    after each event is stored (a service's own reaction to a change)."""

    async def apply_config(event: ConfigEvent) -> None:
        """Store the newest version of a workspace or account."""
        await runtime.config.apply(event)
        if then is not None:
            await then(event)

    runtime.consume(runtime.topics.config, groups.config(runtime.name), ConfigEvent, apply_config)


@asynccontextmanager
async def running(runtime: Runtime, *, consume: bool = True) -> AsyncIterator[Runtime]:
    """The runtime's lifecycle for a host other than FastStream's app (an HTTP app's
    lifespan, a command): topics ensured and start hooks run, then the broker started
    (``consume``) or only connected to publish; on the way out, everything stopped and
    closed, as ``serve`` does."""
    try:
        await _prepare(runtime)
        if consume:
            await runtime.broker.start()
        else:
            await runtime.broker.connect()
        yield runtime
    finally:
        await _stopping(runtime)
        await runtime.broker.stop()
        await _close(runtime)


async def _prepare(runtime: Runtime) -> None:
    if runtime.probes is not None:  # live while starting; ready once the groups joined
        await runtime.probes.start()
    topics = runtime.topics
    await ensure_topics(
        runtime.settings.kafka_bootstrap, topics.all(), TOPIC_PARTITIONS, topics.compacted()
    )
    for hook in runtime.on_start:
        await _until_done(runtime, hook)


async def _until_done(runtime: Runtime, hook: Callable[[], Awaitable[None]]) -> None:
    """Run a start hook; while a dependency it needs is down (``unavailable``: a broker or
    database outage, or FerretDB closing the connection of one of two replicas creating
    the same index at once), try again with backoff for up to ``start_patience_s``, then
    give up with the last error (the orchestrator restarts the process). A hook's own
    failure is raised at once: trying again would not mend it."""
    waited: set[str] = set()

    def waiting(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        dependency = unavailable(error)
        if error is not None and dependency is not None:
            runtime.outages.waiting(dependency, error)
            waited.add(dependency)

    settings = runtime.settings
    retrying = AsyncRetrying(
        retry=retry_if_exception(lambda error: unavailable(error) is not None),
        wait=wait_exponential(multiplier=OUTAGE_FIRST_WAIT_S, max=settings.outage_max_wait_s),
        stop=stop_after_delay(settings.start_patience_s),
        before_sleep=waiting,
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            await hook()
    for dependency in waited:
        runtime.outages.back(dependency)


async def _stopping(runtime: Runtime) -> None:
    runtime.health.stopping = True
    log.info("service stopping", extra={"service": runtime.name})
    for hook in runtime.on_stop:
        await hook()


async def _close(runtime: Runtime) -> None:
    if runtime.probes is not None:
        await runtime.probes.stop()
    await runtime.bulk.close()
    await runtime.mongo.close()
    runtime.tracer.shutdown()


def run(runtime: Runtime, alongside: Alongside | None = None) -> None:
    """Run the service until SIGINT or SIGTERM (see ``serve``)."""
    asyncio.run(serve(runtime, alongside))


async def serve(runtime: Runtime, alongside: Alongside | None = None) -> None:
    """Start the service, run it until SIGINT or SIGTERM, then stop it.

    A signal that comes while the service is still starting (joining its consumer groups
    one subscriber after the other) is acted on once the start is complete, or after half
    of ``shutdown_grace_s``; then every consumer is stopped by the one ``broker.stop``,
    each finishing and committing the poll in hand. Stopping the broker while its start
    went on, as FastStream's own runner does, left the consumers started after that stop
    consuming until the process ended, in the middle of a poll.

    ``alongside`` (a coroutine function) runs beside the consumers once they are started
    and is cancelled first on the way out.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    log.info("service starting", extra={"service": runtime.name})
    background: asyncio.Task[None] | None = None
    try:
        await _start_unless_stopped(runtime, stop)
        if not stop.is_set():
            if alongside is not None:
                background = asyncio.create_task(alongside())
            log.info("service started", extra={"service": runtime.name})
            await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        if background is not None:
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
        await _stopping(runtime)
        await runtime.broker.stop()
        await _close(runtime)


async def _start_unless_stopped(runtime: Runtime, stop: asyncio.Event) -> None:
    """Topics ensured, hooks run, consumers started; a stop asked for meanwhile waits for
    that start, at most half of the grace period, before the start is abandoned."""

    async def start() -> None:
        await _prepare(runtime)
        await runtime.broker.start()

    starting = asyncio.create_task(start())
    asked = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({starting, asked}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            await asyncio.wait({starting}, timeout=runtime.settings.shutdown_grace_s / 2)
    finally:
        asked.cancel()
        if not starting.done():
            starting.cancel()
            log.warning("stopped before its start was complete", extra={"service": runtime.name})
        with contextlib.suppress(asyncio.CancelledError):
            await starting  # a start that failed raises here
