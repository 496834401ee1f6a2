"""Publishing on Kafka: one event at a time, bound to its topic (``ports.Publish``)."""

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from crm_runtime.bus import publish
from timeline_api.ports import Publish


def topic_publisher(broker: KafkaBroker, topic: str) -> Publish:
    """Publish under a key on ``topic``, durably, through the service's broker."""

    async def publish_on_topic(key: str, event: BaseModel) -> None:
        await publish(broker, topic, key, event)

    return publish_on_topic
