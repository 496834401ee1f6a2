"""Dead letters in memory (``ports.operations.DeadLetters``), for unit tests and the
contract tests."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from timeline_api.domain.dead_letters import (
    DeadLetterQuery,
    ErrorCount,
    StoredDeadLetter,
    count_errors,
    matches,
)
from timeline_api.domain.pagination import Cursor


class MemoryDeadLetters:
    """``ports.operations.DeadLetters`` in a dict."""

    def __init__(self) -> None:
        self.letters: dict[str, StoredDeadLetter] = {}

    async def record(self, letters: Sequence[StoredDeadLetter]) -> None:
        """Keep dead letters; one kept already keeps whether it was re-driven."""
        for letter in letters:
            kept = self.letters.get(letter.letter_id)
            if kept is not None:
                retried = {"retried_at": kept.retried_at, "retried_by": kept.retried_by}
                letter = letter.model_copy(update=retried)
            self.letters[letter.letter_id] = letter

    async def letter(self, letter_id: str) -> StoredDeadLetter | None:
        """One dead letter with its payload, or None."""
        return self.letters.get(letter_id)

    async def page(
        self, query: DeadLetterQuery, after: Cursor | None, limit: int
    ) -> list[StoredDeadLetter]:
        """Newest first, after the cursor, without payloads."""
        found = [letter for letter in self.letters.values() if matches(letter, query)]
        found.sort(key=lambda letter: (letter.failed_at, letter.letter_id), reverse=True)
        if after is not None:
            found = [x for x in found if (x.failed_at, x.letter_id) < (after.at, after.id)]
        return [letter.model_copy(update={"payload": ""}) for letter in found[:limit]]

    async def counts(self, query: DeadLetterQuery) -> list[ErrorCount]:
        """How many of each error from each topic."""
        found = [x for x in self.letters.values() if matches(x, query)]
        return count_errors((x.source_topic, x.error_type) for x in found)

    async def pending(self, query: DeadLetterQuery, limit: int) -> list[StoredDeadLetter]:
        """Oldest first, not re-driven yet, with payloads."""
        wanted = replace(query, pending_only=True)
        found = [x for x in self.letters.values() if matches(x, wanted)]
        found.sort(key=lambda letter: (letter.failed_at, letter.letter_id))
        return found[:limit]

    async def mark_retried(self, letter_ids: Sequence[str], at: datetime, by: str) -> None:
        """Note when and by whom these were re-driven."""
        for letter_id in letter_ids:
            letter = self.letters[letter_id]
            self.letters[letter_id] = letter.model_copy(update={"retried_at": at, "retried_by": by})
