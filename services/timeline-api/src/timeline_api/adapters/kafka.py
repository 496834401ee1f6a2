"""Publishing on Kafka: one event at a time, bound to its topic (``ports.Publish``), or
bytes as they are (``ports.RawPublish``)."""

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from crm_runtime.bus import publish
from timeline_api.ports import Publish, RawPublish


def topic_publisher(broker: KafkaBroker, topic: str) -> Publish:
    """Publish under a key on ``topic``, durably, through the service's broker."""

    async def publish_on_topic(key: str, event: BaseModel) -> None:
        await publish(broker, topic, key, event)

    return publish_on_topic


def raw_publisher(broker: KafkaBroker) -> RawPublish:
    """Publish bytes as they are, under a key, durably (a dead letter's payload).

    Without a content type: the consumers parse the bytes against their contract
    themselves, and a payload that is not JSON (a message that broke its contract) must
    reach them as it is, not be decoded by the framework on the way and fail there."""

    async def publish_raw(topic: str, key: str | None, payload: bytes) -> None:
        await broker.publish(payload, topic=topic, key=key.encode() if key is not None else None)

    return publish_raw
