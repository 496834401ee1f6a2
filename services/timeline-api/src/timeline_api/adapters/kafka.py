"""Publishing on Kafka: one event at a time, bound to its topic (``ports.common.Publish``),
bytes as they are (``ports.common.RawPublish``), or many events at once
(``ports.timelines.MailOutbox``)."""

from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from crm_runtime.bus import BulkPublisher, publish
from timeline_api.ports.common import Publish, RawPublish
from timeline_api.ports.timelines import MailOutbox


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


def keyed_publisher(bulk: BulkPublisher, topic: str) -> MailOutbox:
    """Publish (key, event) pairs on ``topic``, durably, the acknowledgements together."""

    async def publish_keyed(events: Sequence[tuple[str, BaseModel]]) -> None:
        await bulk.publish_all([(topic, key, event) for key, event in events])

    return publish_keyed
