"""What every event has in common."""

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    """Now, in UTC, for timestamps on events."""
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event: immutable, strict about unknown fields' absence of meaning."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Address(Event):
    """An email address as it appeared, with its display name when there was one."""

    email: str = Field(min_length=3, description="Normalised (lower-cased) address.")
    name: str | None = None
