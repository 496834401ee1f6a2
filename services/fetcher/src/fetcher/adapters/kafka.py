"""Publishing to Kafka through the runtime's durable publish."""

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from crm_runtime.bus import publish


class BrokerPublisher:
    """The Publisher port over a FastStream Kafka broker (acks=all, idempotent)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def __call__(self, topic: str, key: str, event: BaseModel) -> None:
        """Publish one event under its key; returns once Kafka has it durably."""
        await publish(self._broker, topic, key, event)
