"""Publishing to Kafka through the runtime's durable bulk publisher."""

from pydantic import BaseModel

from crm_runtime.bus import BulkPublisher


class KafkaPublisher:
    """The Publisher port over the runtime's producer (acks=all, idempotent)."""

    def __init__(self, bulk: BulkPublisher) -> None:
        self._bulk = bulk

    async def __call__(self, topic: str, key: str, event: BaseModel) -> None:
        """Publish one event under its key; returns once Kafka has it durably."""
        await self._bulk.publish_all([(topic, key, event)])
