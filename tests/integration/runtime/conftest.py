"""Settings of the runtime's integration tests: the test's own topics and groups."""

from collections.abc import AsyncIterator

import pytest
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace import TracerProvider

from crm_runtime.bus import build_broker, ensure_topics
from crm_runtime.settings import ServiceSettings


@pytest.fixture
def settings(isolated: dict[str, str]) -> ServiceSettings:
    """Fast retries, so dead-lettering shows within a test's deadline."""
    return ServiceSettings(
        kafka_bootstrap=isolated["kafka_bootstrap"],
        topic_prefix=isolated["topic_prefix"],
        group_prefix=isolated["group_prefix"],
        handler_attempts=3,
        retry_max_wait_s=0.2,
        retry_later_max_s=20,
    )


@pytest.fixture
async def broker(settings: ServiceSettings) -> AsyncIterator[KafkaBroker]:
    """A broker on the test's topics (created with 2 partitions)."""
    await ensure_topics(settings.kafka_bootstrap, settings.topics.all(), 2)
    built = build_broker(settings, "delivery-test", TracerProvider())
    yield built
    await built.stop()
