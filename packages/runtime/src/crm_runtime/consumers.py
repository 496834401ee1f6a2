"""The Kafka consumer behind each subscriber: how it is a member of its group, and how a
poll that cannot be finished goes back to Kafka uncommitted."""

import logging
from typing import Any, TypeAlias, TypedDict

from aiokafka import TopicPartition
from faststream.exceptions import NackMessage

from crm_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
Record: TypeAlias = Any  # aiokafka.ConsumerRecord; aiokafka ships no type hints


class Membership(TypedDict):
    """How a consumer is a member of its group (keyword arguments of a subscriber)."""

    session_timeout_ms: int
    heartbeat_interval_ms: int
    max_poll_interval_ms: int
    rebalance_timeout_ms: int
    group_instance_id: str | None


def consumer_membership(settings: ServiceSettings, topic: str) -> Membership:
    """How a consumer of ``topic`` is a member of its group: timeouts, and a static
    ``group.instance.id`` when the replica has a stable name (docs/adr/0030). The group
    waits for a member to rejoin as long as the member may wait for the work in hand
    before it rejoins (``rebalance_wait_s``, crm_runtime.health)."""
    instance = settings.consumer_instance_id
    return Membership(
        session_timeout_ms=settings.consumer_session_timeout_ms,
        heartbeat_interval_ms=settings.consumer_heartbeat_interval_ms,
        max_poll_interval_ms=settings.consumer_max_poll_interval_ms,
        rebalance_timeout_ms=int(settings.rebalance_wait_s * 1000),
        # unique in the group: one replica may consume several topics in one group
        group_instance_id=f"{instance}:{topic}" if instance else None,
    )


def hand_back(waiting: Exception) -> NackMessage:
    """The poll goes back to Kafka uncommitted (quietly: FastStream does not log a nack)."""
    log.debug("poll handed back while waiting for a dependency", extra={"why": str(waiting)})
    return NackMessage()


def by_partition_and_key(records: list[Record]) -> list[list[Record]]:
    """Records grouped by (partition, key), each group in offset order."""
    groups: dict[tuple[str, int, bytes | None], list[Record]] = {}
    for record in records:
        groups.setdefault((record.topic, record.partition, record.key), []).append(record)
    return list(groups.values())


def rewind(consumer: Any, records: list[Record]) -> None:
    """Seek every partition of a failed batch back to its first record in the batch."""
    first: dict[tuple[str, int], int] = {}
    for record in records:
        key = (record.topic, record.partition)
        first[key] = min(first.get(key, record.offset), record.offset)
    assigned = consumer.assignment()
    for (topic, partition), offset in first.items():
        tp = TopicPartition(topic, partition)
        if tp in assigned:  # a partition revoked meanwhile restarts from its commit elsewhere
            consumer.seek(tp, offset)
