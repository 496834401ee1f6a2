"""Dead letters: kept from the dead-letter topic, listed, shown and re-driven.

``DeadLetterProjection`` keeps every service's dead letters (``ports.operations.DeadLetters``).
``DeadLetterDesk`` is what operators (``crm-admin deadletters``) and a workspace's admins
(``/v1/deadletters``) do with them: list them with counts by error, show one, and retry:
each original payload goes back, under its key, to the topic it came from, so the same
handler takes it again (every handler is an idempotent upsert: an item that made it
after all changes nothing), and the dead letter notes when and by whom it was re-driven.
A retry that fails again makes a new dead letter.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crm_schemas.base import utcnow
from crm_schemas.outcomes import DeadLetter
from timeline_api.domain.dead_letters import (
    DeadLetterQuery,
    ErrorCount,
    StoredDeadLetter,
    matches,
    payload_bytes,
    stored_letter,
)
from timeline_api.domain.ownership import NotFoundError
from timeline_api.domain.pagination import Cursor, next_cursor
from timeline_api.ports.common import RawPublish
from timeline_api.ports.operations import DeadLetters

RETRY_MAX = 1000
"""Dead letters re-driven by one call at most; the answer says when more are left."""


class DeadLetterProjection:
    """Keeps the dead-letter topic's letters by their deterministic id."""

    def __init__(self, letters: DeadLetters) -> None:
        self._letters = letters

    async def record_all(self, letters: list[DeadLetter]) -> None:
        """Keep a poll of dead letters; a letter kept already keeps its retry."""
        await self._letters.record([stored_letter(letter) for letter in letters])

    async def record(self, letter: DeadLetter) -> None:
        """One dead letter, when its batch could not be kept at once."""
        await self.record_all([letter])


@dataclass(frozen=True, slots=True)
class Listing:
    """A page of dead letters, the counts by error of all the query asks for, and the
    cursor of the next page (None on the last)."""

    letters: list[StoredDeadLetter]
    counts: list[ErrorCount]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Redriven:
    """What a retry did: the letters re-driven, those it would not (id, why), and
    whether more are waiting (a retry takes ``RETRY_MAX`` at most)."""

    retried: list[str]
    refused: list[tuple[str, str]]
    more: bool


class DeadLetterDesk:
    """List, show and re-drive dead letters, a workspace's or (for operators) all."""

    def __init__(
        self,
        letters: DeadLetters,
        publish: RawPublish,
        topics: Sequence[str],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._letters = letters
        self._publish = publish
        self._topics = frozenset(topics)
        self._clock = clock

    async def listing(self, query: DeadLetterQuery, after: Cursor | None, limit: int) -> Listing:
        """A page of dead letters, newest first, with the counts by error."""
        page = await self._letters.page(query, after, limit + 1)
        counts = await self._letters.counts(query)
        cursors = [Cursor(x.failed_at, x.letter_id) for x in page]
        return Listing(page[:limit], counts, next_cursor(cursors, limit))

    async def show(self, letter_id: str, workspace_id: str | None) -> StoredDeadLetter:
        """One dead letter with its payload; NotFoundError outside the workspace."""
        letter = await self._letters.letter(letter_id)
        if letter is None or not matches(letter, DeadLetterQuery(workspace_id=workspace_id)):
            raise NotFoundError(f"no dead letter with id {letter_id}")
        return letter

    async def retry(
        self, query: DeadLetterQuery, by: str, letter_ids: Sequence[str] = ()
    ) -> Redriven:
        """Re-drive the dead letters the query asks for (only ``letter_ids`` among them,
        when given) that were not re-driven yet, oldest first."""
        wanted = replace(query, pending_only=True)
        if letter_ids:
            found = [await self._letters.letter(i) for i in dict.fromkeys(letter_ids)]
            chosen = [x for x in found if x is not None and matches(x, wanted)]
            more = False
        else:
            chosen = await self._letters.pending(wanted, RETRY_MAX + 1)
            more = len(chosen) > RETRY_MAX
            chosen = chosen[:RETRY_MAX]
        retried, refused = [], []
        for letter in chosen:
            why = await self._redrive(letter)
            if why is None:
                retried.append(letter.letter_id)
            else:
                refused.append((letter.letter_id, why))
        await self._letters.mark_retried(retried, self._clock(), by)
        return Redriven(retried, refused, more)

    async def _redrive(self, letter: StoredDeadLetter) -> str | None:
        """Publish the original payload back to its topic; why not, when it cannot be."""
        if letter.source_topic not in self._topics:
            return f"{letter.source_topic} is not a topic of this deployment"
        try:
            body = payload_bytes(letter)
        except ValueError as unreadable:
            return str(unreadable)
        await self._publish(letter.source_topic, letter.key, body)
        return None
