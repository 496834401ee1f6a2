"""Publishing to Kafka through the runtime's durable bulk publisher."""

from collections.abc import Sequence

from pydantic import BaseModel

from crm_runtime.bus import BulkPublisher
from fetcher.ports import Outgoing


class KafkaPublisher:
    """The Publisher port over the runtime's producer (acks=all, idempotent)."""

    def __init__(self, bulk: BulkPublisher) -> None:
        self._bulk = bulk

    async def __call__(self, topic: str, key: str, event: BaseModel) -> None:
        """Publish one event under its key; returns once Kafka has it durably."""
        await self._bulk.publish_all([(topic, key, event)])

    async def many(self, outgoing: Sequence[Outgoing]) -> None:
        """Publish a batch of events at once; returns once Kafka has every one durably."""
        await self._bulk.publish_all(outgoing)
