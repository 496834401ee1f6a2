"""The records' one writer: a poll of commands applied in order, stored, announced, answered.

Commands come keyed by workspace (``Topics.record_commands``), so one consumer at a time
applies a workspace's commands, in the order they were sent (docs/adr/0029). Per poll:
the book is read in a few queries, every command applied to it, what changed stored,
then the new versions published on the records topic and the answers on the outcomes
topic together, and only then the versions marked announced. A poll that fails is done
again one command at a time; every command can be applied twice (a person seen is
idempotent, a records API command is answered from what it did the first time).
"""

from crm_runtime.bus import BulkPublisher, Outgoing
from crm_schemas.record_commands import RecordCommand
from crm_schemas.topics import Topics
from enricher.adapters.records import Records
from enricher.owner.book import record_id
from enricher.owner.commands import apply


class RecordOwner:
    """Applies commands to the people and companies, their only writer."""

    def __init__(self, records: Records, bulk: BulkPublisher, topics: Topics) -> None:
        self._records = records
        self._bulk = bulk
        self._topics = topics

    async def on_commands(self, batch: list[RecordCommand]) -> None:
        """A poll of commands, in order."""
        book = await self._records.load(batch)
        outcomes = [outcome for c in batch if (outcome := apply(book, c)) is not None]
        await self._records.save(book)
        announced = book.to_announce()
        outgoing: list[Outgoing] = [(self._topics.records, record_id(r), r) for r in announced]
        outgoing += [(self._topics.record_outcomes, o.command_id, o) for o in outcomes]
        await self._bulk.publish_all(outgoing)
        await self._records.mark_announced(announced)

    async def on_command(self, command: RecordCommand) -> None:
        """One command, when its poll could not be handled at once."""
        await self.on_commands([command])
