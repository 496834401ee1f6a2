"""Calendar sync state in the fetcher's own MongoDB database, read and written by ``_id``.

``caldav_calendars``: one document per (account, calendar URL): the sync token and the
etag of every object seen. ``caldav_objects``: one per (account, calendar, href): the
occurrences (UID, recurrence id) the object published, to know what to remove when it is
deleted or loses an occurrence. Both are looked up by ``_id`` only (docs/adr/0007); pairs
are stored as small documents, since FerretDB does not store nested arrays.
"""

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from fetcher.domain.model import CalendarState, ItemKey

CALENDARS = "caldav_calendars"
OBJECTS = "caldav_objects"


def _key(*parts: str) -> str:
    return "\x1f".join(parts)


class MongoCalendarStateStore:
    """Calendar tokens and per-object occurrences, by ``_id``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._calendars = db[CALENDARS]
        self._objects = db[OBJECTS]

    async def load(self, account_id: str, calendar_url: str) -> CalendarState | None:
        """The calendar's state, None before its first sync."""
        doc = await self._calendars.find_one({"_id": _key(account_id, calendar_url)})
        if doc is None:
            return None
        objects = tuple((str(o["href"]), o.get("etag")) for o in doc.get("objects", []))
        return CalendarState(token=doc.get("token"), objects=objects)

    async def save(self, account_id: str, calendar_url: str, state: CalendarState) -> None:
        """Store the calendar's state (one job per account at a time: last write wins)."""
        doc = {
            "account_id": account_id,
            "calendar_url": calendar_url,
            "token": state.token,
            "objects": [{"href": h, "etag": e} for h, e in state.objects],
        }
        await self._calendars.replace_one({"_id": _key(account_id, calendar_url)}, doc, upsert=True)

    async def items(self, account_id: str, calendar_url: str, href: str) -> list[ItemKey]:
        """The occurrences an object published last time."""
        doc = await self._objects.find_one({"_id": _key(account_id, calendar_url, href)})
        return [(str(i["uid"]), i.get("rid")) for i in (doc or {}).get("items", [])]

    async def save_items(
        self, account_id: str, calendar_url: str, href: str, items: list[ItemKey]
    ) -> None:
        """Remember the occurrences an object published."""
        await self._objects.replace_one(
            {"_id": _key(account_id, calendar_url, href)},
            {"items": [{"uid": u, "rid": r} for u, r in items]},
            upsert=True,
        )

    async def forget(self, account_id: str, calendar_url: str, href: str) -> None:
        """Forget a deleted object."""
        await self._objects.delete_one({"_id": _key(account_id, calendar_url, href)})
