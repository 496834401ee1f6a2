"""At-least-once consumption, made structural.

Every subscriber goes through ``subscribe``: the payload is validated against its
contract, the handler is tried a bounded number of times, and only then is the offset
committed. A payload that does not match its contract, or that keeps failing, goes to the
dead-letter topic with its error before its offset is committed; if even that publish
fails, the offset is not committed and Kafka delivers the message again.
"""

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import TypeAdapter, ValidationError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from crm_runtime.bus import publish
from crm_runtime.settings import ServiceSettings
from crm_schemas.outcomes import DeadLetter

T = TypeVar("T")
log = logging.getLogger(__name__)


class RetryLater(Exception):  # noqa: N818 - reads as the instruction it is
    """The handler cannot do its work yet (e.g. a config it needs has not arrived).

    Retried for up to ``retry_later_max_s`` rather than ``handler_attempts`` times: the
    config topic may still be catching up after a deployment or during a replay.
    """


def _stop(settings: ServiceSettings) -> Callable[[RetryCallState], bool]:
    """Stop after the attempts budget, or for RetryLater after the waiting budget."""
    attempts = stop_after_attempt(settings.handler_attempts)
    waited = stop_after_delay(settings.retry_later_max_s)

    def stop(state: RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome is not None else None
        return waited(state) if isinstance(error, RetryLater) else attempts(state)

    return stop


def subscribe(
    broker: KafkaBroker,
    settings: ServiceSettings,
    *,
    topic: str,
    group: str,
    contract: Any,
    handler: Callable[[T], Awaitable[None]],
) -> None:
    """Consume ``topic`` in consumer group ``group``, at least once, dead-lettering failures."""
    adapter: TypeAdapter[T] = TypeAdapter(contract)
    name = getattr(handler, "__qualname__", repr(handler))

    @broker.subscriber(
        topic,
        group_id=settings.group(group),
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        title=f"{group}:{topic}",
        description=handler.__doc__,
    )
    async def on_message(message: KafkaMessage) -> None:
        try:
            event = adapter.validate_json(message.body)
        except ValidationError as invalid:
            await _dead_letter(broker, settings, message, name, invalid, attempts=1)
            return
        try:
            async for attempt in AsyncRetrying(
                stop=_stop(settings),
                wait=wait_exponential(multiplier=0.2, max=settings.retry_max_wait_s),
                reraise=False,
            ):
                with attempt:
                    await handler(event)
        except RetryError as failed:
            cause = failed.last_attempt.exception() or failed
            log.warning(
                "handler failed, dead-lettering",
                extra={"handler": name, "topic": topic, "error": repr(cause)},
            )
            attempts = failed.last_attempt.attempt_number
            await _dead_letter(broker, settings, message, name, cause, attempts)


async def _dead_letter(
    broker: KafkaBroker,
    settings: ServiceSettings,
    message: KafkaMessage,
    handler: str,
    error: BaseException,
    attempts: int,
) -> None:
    raw = message.raw_message
    record = raw[0] if isinstance(raw, tuple) else raw
    try:
        payload, encoding = message.body.decode(), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(message.body).decode(), "base64"
    key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else None
    letter = DeadLetter(
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=key,
        handler=handler,
        error_type=type(error).__name__,
        error=str(error)[:4000],
        attempts=attempts,
        payload=payload,
        payload_encoding=encoding,
    )
    await publish(broker, settings.topics.dead_letter, key or "", letter)
