"""Calendar sync state in the fetcher's own MongoDB database, read and written by ``_id``.

``caldav_calendars``: one document per (account, calendar URL): the sync token, the etag
of every object seen, the objects holding a recurring series and how far those were
expanded. ``caldav_objects``: one per (account, calendar, href): the occurrences (UID,
recurrence id) the object published, to know what to remove when it is deleted or loses
an occurrence. ``caldav_accounts``: one per account: the calendars that have a state, to
find those deselected or deleted on the server. Everything is looked up by ``_id`` only
(docs/adr/0007): several objects are read by concurrent ``_id`` lookups and written by
one bulk write of ``_id`` upserts. Pairs are stored as small documents, since FerretDB
does not store nested arrays.
"""

import asyncio
from collections.abc import Collection, Mapping, Sequence

from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from crm_runtime.mongo import Document
from fetcher.domain.model import CalendarState, ItemKey

CALENDARS = "caldav_calendars"
OBJECTS = "caldav_objects"
ACCOUNTS = "caldav_accounts"


def _key(*parts: str) -> str:
    return "\x1f".join(parts)


def _pairs(keys: Sequence[ItemKey]) -> list[Document]:
    return [{"uid": u, "rid": r} for u, r in keys]


class MongoCalendarStateStore:
    """Calendar tokens and per-object occurrences, by ``_id``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._calendars = db[CALENDARS]
        self._objects = db[OBJECTS]
        self._accounts = db[ACCOUNTS]

    async def load(self, account_id: str, calendar_url: str) -> CalendarState | None:
        """The calendar's state, None before its first sync."""
        doc = await self._calendars.find_one({"_id": _key(account_id, calendar_url)})
        if doc is None:
            return None
        objects = tuple((str(o["href"]), o.get("etag")) for o in doc.get("objects", []))
        series = tuple(str(h) for h in doc.get("series", []))
        until = doc.get("expanded_until")
        return CalendarState(doc.get("token"), objects, series, until)

    async def save(self, account_id: str, calendar_url: str, state: CalendarState) -> None:
        """Store the calendar's state (one job per account at a time: last write wins)."""
        doc = {
            "account_id": account_id,
            "calendar_url": calendar_url,
            "token": state.token,
            "objects": [{"href": h, "etag": e} for h, e in state.objects],
            "series": list(state.series),
            "expanded_until": state.expanded_until,
        }
        await self._calendars.replace_one({"_id": _key(account_id, calendar_url)}, doc, upsert=True)
        urls = await self.calendar_urls(account_id)
        if calendar_url not in urls:
            await self._save_urls(account_id, [*urls, calendar_url])

    async def calendar_urls(self, account_id: str) -> list[str]:
        """The calendars of an account that have a state."""
        doc = await self._accounts.find_one({"_id": account_id})
        return [str(u) for u in (doc or {}).get("calendars", [])]

    async def forget_calendar(self, account_id: str, calendar_url: str) -> None:
        """Forget a calendar's state."""
        await self._calendars.delete_one({"_id": _key(account_id, calendar_url)})
        urls = await self.calendar_urls(account_id)
        await self._save_urls(account_id, [u for u in urls if u != calendar_url])

    async def _save_urls(self, account_id: str, urls: list[str]) -> None:
        await self._accounts.replace_one({"_id": account_id}, {"calendars": urls}, upsert=True)

    async def items(
        self, account_id: str, calendar_url: str, hrefs: Sequence[str]
    ) -> dict[str, list[ItemKey]]:
        """The occurrences each object published last time (concurrent ``_id`` lookups)."""
        docs = await asyncio.gather(
            *(self._objects.find_one({"_id": _key(account_id, calendar_url, h)}) for h in hrefs)
        )
        return {
            href: [(str(i["uid"]), i.get("rid")) for i in doc.get("items", [])]
            for href, doc in zip(hrefs, docs, strict=True)
            if doc is not None
        }

    async def save_items(
        self,
        account_id: str,
        calendar_url: str,
        items: Mapping[str, Sequence[ItemKey]],
        first_time: Collection[str] = (),
    ) -> None:
        """Remember the occurrences each object published: objects seen for the first time
        in one insert (FerretDB inserts fast and upserts slowly: ~100 ms each, measured),
        the others in one bulk write of replaces by ``_id``."""
        docs = {
            href: {"_id": _key(account_id, calendar_url, href), "items": _pairs(keys)}
            for href, keys in items.items()
        }
        new = [doc for href, doc in docs.items() if href in first_time]
        again = [doc for href, doc in docs.items() if href not in first_time]
        if new:
            try:
                await self._objects.insert_many(new, ordered=False)
            except BulkWriteError as error:  # a job redone after a crash: replace those
                done = {new[e["index"]]["_id"] for e in error.details["writeErrors"]}
                again += [doc for doc in new if doc["_id"] in done]
        if again:
            await self._objects.bulk_write(
                [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in again], ordered=False
            )

    async def forget(self, account_id: str, calendar_url: str, hrefs: Sequence[str]) -> None:
        """Forget deleted objects: one bulk write of deletes by ``_id``."""
        writes = [DeleteOne({"_id": _key(account_id, calendar_url, h)}) for h in hrefs]
        if writes:
            await self._objects.bulk_write(writes, ordered=False)
