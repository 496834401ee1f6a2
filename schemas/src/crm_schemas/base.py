"""What every event has in common."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    """Now, in UTC, to the millisecond, for timestamps on events.

    Milliseconds because that is what a stored BSON date keeps: a version stamped with
    microseconds would read back older than itself, and every only-if-newer write would
    take a copy it already has (and could overwrite a newer one written meanwhile)."""
    return to_milliseconds(datetime.now(UTC))


def to_milliseconds(moment: datetime) -> datetime:
    """``moment`` cut to the millisecond, the precision of a stored BSON date."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Event(BaseModel):
    """Base of every event: immutable, strict about unknown fields' absence of meaning."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Address(Event):
    """An email address as it appeared, with its display name when there was one."""

    email: str = Field(min_length=3, description="Normalised (lower-cased) address.")
    name: str | None = None


def kind_of(default: str) -> Callable[[Any], str]:
    """The discriminator of a union of events told apart by their ``type``: a payload
    (or an event) without one is ``default``, for contracts that had no ``type`` when the
    union was made."""

    def kind(value: Any) -> str:
        if isinstance(value, dict):
            return str(value.get("type", default))
        return str(getattr(value, "type", default))

    return kind
