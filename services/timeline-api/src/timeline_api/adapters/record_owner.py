"""Asking the records' one writer over Kafka (``ports.records.RecordOwner``, docs/adr/0029).

A command goes on ``Topics.record_commands`` keyed by its workspace; the enricher applies
it and answers on ``Topics.record_outcomes``. Every replica of this API reads every
partition of the outcomes topic from where it stood at start-up (no consumer group, no
commits) and hands each answer to the request waiting for its command id; answers for
other replicas are skipped.
"""

import asyncio
import logging

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from crm_schemas.record_commands import ApiCommand, RecordOutcome
from timeline_api.domain.ownership import UnavailableError
from timeline_api.ports.common import Publish

log = logging.getLogger(__name__)
ASSIGNMENT_WAIT_S = 30.0
"""How long start-up waits for the outcomes topic's partitions to be known."""


class KafkaRecordOwner:
    """Commands out, the answers to this replica's commands in."""

    def __init__(self, bootstrap: str, outcomes: str, publish: Publish, wait_s: float) -> None:
        self._bootstrap = bootstrap
        self._topic = outcomes
        self._publish = publish
        self._wait_s = wait_s
        self._waiting: dict[str, asyncio.Future[RecordOutcome]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._listening: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the outcomes topic from its end as it is now, before any command is sent
        (the topic exists: the runtime ensures every topic first)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        await consumer.start()
        consumer.subscribe([self._topic])  # no group: every partition is this replica's
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ASSIGNMENT_WAIT_S
        while not consumer.assignment():
            if loop.time() > deadline:
                await consumer.stop()
                raise RuntimeError(f"no partition of {self._topic} found to read answers from")
            await asyncio.sleep(0.05)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_end(*partitions)
        for partition in partitions:  # fixed now, so no answer can come before the position
            await consumer.position(partition)
        self._consumer = consumer
        self._listening = asyncio.create_task(self._listen(consumer), name="record-outcomes")

    async def stop(self) -> None:
        """Stop listening; requests still waiting answer 503."""
        if self._listening is not None:
            self._listening.cancel()
            await asyncio.gather(self._listening, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def ask(self, command: ApiCommand) -> RecordOutcome:
        """Send the command and wait for its answer, at most the configured time."""
        if self._listening is None or self._listening.done():
            raise UnavailableError("the records API is not listening for the records' answers")
        answer = asyncio.get_running_loop().create_future()
        self._waiting[command.command_id] = answer
        try:
            await self._publish(command.workspace_id, command)
            return await asyncio.wait_for(answer, self._wait_s)
        except TimeoutError as late:
            raise UnavailableError(
                f"the enricher, which keeps people and companies, did not answer within "
                f"{self._wait_s:g} s; the change may still be made: read the record to see"
            ) from late
        finally:
            self._waiting.pop(command.command_id, None)

    async def _listen(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                polled = await consumer.getmany(timeout_ms=1000)
            except KafkaError as error:  # the broker away for a moment: keep the positions
                log.warning("reading record outcomes failed", extra={"error": repr(error)})
                await asyncio.sleep(1)
                continue
            for records in polled.values():
                for record in records:
                    self._answer(record.value or b"")

    def _answer(self, value: bytes) -> None:
        try:
            outcome = RecordOutcome.model_validate_json(value)
        except ValidationError as invalid:
            log.warning("unreadable record outcome skipped", extra={"error": str(invalid)})
            return
        waiting = self._waiting.get(outcome.command_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(outcome)
