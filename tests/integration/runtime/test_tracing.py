"""One trace follows a message from service to service, through Kafka headers."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from crm_runtime.bus import BulkPublisher, build_broker, ensure_topics, publish
from crm_runtime.delivery import subscribe
from crm_runtime.settings import ServiceSettings
from crm_runtime.tracing import build_tracer_provider

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Hop(BaseModel):
    n: int


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(params=[False, True], ids=["one-by-one", "batch"])
async def two_services(
    request: pytest.FixtureRequest, settings: ServiceSettings, spans: InMemorySpanExporter
) -> AsyncIterator[tuple[str, list[int], bool]]:
    """'first' consumes a.v1 and publishes b.v1; 'second' consumes b.v1."""
    batch: bool = request.param
    await ensure_topics(settings.kafka_bootstrap, settings.topics.all(), 2)
    first_topic, second_topic = f"{settings.topic_prefix}.a.v1", f"{settings.topic_prefix}.b.v1"
    done: list[int] = []
    providers = {
        name: build_tracer_provider(name, "none", "", spans) for name in ("first", "second")
    }
    first = build_broker(settings, "first", providers["first"])
    second = build_broker(settings, "second", providers["second"])
    forwarded = BulkPublisher(settings, "first", providers["first"])  # as the services do

    async def forward(hop: Hop) -> None:
        await forwarded.publish_all([(second_topic, "k", Hop(n=hop.n + 1))])

    async def finish(hop: Hop) -> None:
        done.append(hop.n)

    for broker, topic, group, handler in (
        (first, first_topic, "first", forward),
        (second, second_topic, "second", finish),
    ):
        subscribe(
            broker,
            settings,
            topic=topic,
            group=group,
            contract=Hop,
            handler=handler,
            batch=batch,
            tracer_provider=providers[group],
        )
    await first.start()
    await second.start()
    yield first_topic, done, batch
    await first.stop()
    await forwarded.close()
    await second.stop()


async def test_a_message_keeps_its_trace_across_two_services(
    settings: ServiceSettings,
    spans: InMemorySpanExporter,
    two_services: tuple[str, list[int], bool],
) -> None:
    entry, done, batch = two_services
    origin = build_broker(settings, "origin", build_tracer_provider("origin", "none", "", spans))
    await origin.connect()
    try:
        await publish(origin, entry, "k", Hop(n=1))
    finally:
        await origin.stop()

    def services() -> set[object]:
        return {s.resource.attributes["service.name"] for s in spans.get_finished_spans()}

    deadline = time.monotonic() + 30
    while done != [2] or not {"origin", "first", "second"} <= services():
        assert time.monotonic() < deadline, f"the message did not cross both services: {done}"
        await asyncio.sleep(0.1)

    finished = spans.get_finished_spans()
    services_by_trace: dict[int, set[object]] = {}
    for span in finished:
        services_by_trace.setdefault(span.context.trace_id, set()).add(
            span.resource.attributes["service.name"]
        )
    assert any({"origin", "first", "second"} <= s for s in services_by_trace.values()), (
        "no trace follows the message through all three services"
    )
    if not batch:  # one by one, every span belongs to the message's trace
        assert len(services_by_trace) == 1, f"expected one trace, got {len(services_by_trace)}"
