"""Dead letters as an operator (or a workspace's admin) sees them, and what re-driving
one means.

Every service publishes a message it could not process to the dead-letter topic with
its error and its original payload (docs/adr/0004). The timeline API keeps each one by a
deterministic id (its source topic, partition and offset), with the workspace read from
its payload where it has one, so operators can list them by error and re-drive them:
the original payload goes back, under its key, to the topic it came from, where the same
handler takes it again. Every handler is an idempotent upsert, so re-driving an item
that made it after all changes nothing.
"""

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from crm_schemas.outcomes import DeadLetter


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    """Which dead letters: a workspace's (None: every one, for operators), from one
    source topic, failed at or after ``since``, of one error type, only those not
    re-driven yet."""

    workspace_id: str | None = None
    topic: str | None = None
    since: datetime | None = None
    error_type: str | None = None
    pending_only: bool = False


class StoredDeadLetter(DeadLetter):
    """A dead letter as kept: by its id, with its workspace (None: operators' only) and
    whether it was re-driven, when and by whom."""

    letter_id: str
    workspace_id: str | None = None
    retried_at: datetime | None = None
    retried_by: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorCount:
    """How many dead letters of one error type came from one topic."""

    source_topic: str
    error_type: str
    count: int


def letter_id(source_topic: str, partition: int, offset: int) -> str:
    """The dead letter's id: the place of the message that failed, so a dead letter
    published twice (a redelivery of the failing message) is kept once."""
    return f"{source_topic}:{partition}:{offset}"


def workspace_of(payload: str, encoding: str) -> str | None:
    """The workspace a failed message belongs to: its ``workspace_id``, or that of the
    item it wraps (a matched or timeline message's ``message``, a meeting's ``event``);
    None when the payload is not JSON or names none (an operator's matter only)."""
    if encoding != "utf-8":
        return None
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    candidates = [body, *(v for v in body.values() if isinstance(v, dict))]
    for candidate in candidates:
        workspace = candidate.get("workspace_id")
        if isinstance(workspace, str) and workspace:
            return workspace
    return None


def stored_letter(letter: DeadLetter) -> StoredDeadLetter:
    """The kept form of a dead letter, not re-driven yet."""
    return StoredDeadLetter(
        **letter.model_dump(),
        letter_id=letter_id(letter.source_topic, letter.partition, letter.offset),
        workspace_id=workspace_of(letter.payload, letter.payload_encoding),
    )


class UnreadablePayloadError(ValueError):
    """A payload kept as base64 that is not base64."""


def payload_bytes(letter: StoredDeadLetter) -> bytes:
    """The original message's bytes, as they were on the source topic."""
    if letter.payload_encoding == "base64":
        try:
            return base64.b64decode(letter.payload, validate=True)
        except binascii.Error as error:
            raise UnreadablePayloadError(f"{letter.letter_id}: not base64") from error
    return letter.payload.encode()


def matches(letter: StoredDeadLetter, query: DeadLetterQuery) -> bool:
    """Whether a dead letter is one the query asks for."""
    return (
        (query.workspace_id is None or letter.workspace_id == query.workspace_id)
        and (query.topic is None or letter.source_topic == query.topic)
        and (query.since is None or letter.failed_at >= query.since)
        and (query.error_type is None or letter.error_type == query.error_type)
        and (not query.pending_only or letter.retried_at is None)
    )


def count_errors(kinds: Iterable[tuple[str, str]]) -> list[ErrorCount]:
    """Dead letters, given as (source topic, error type), counted by both, the most
    frequent first."""
    counts: dict[tuple[str, str], int] = {}
    for key in kinds:
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [ErrorCount(topic, error, n) for (topic, error), n in ordered]
