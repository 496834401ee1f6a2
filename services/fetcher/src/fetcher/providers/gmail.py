"""Gmail: a first import by messages.list per synced label, then history.list.

developers.google.com/gmail/api/guides/sync: store the mailbox's historyId before the
full import, then follow ``history.list`` from it; a 404 on ``startHistoryId`` (history
is kept about a week) means a full resync. Messages are fetched in HTTP batches. Every
call first spends its quota units in the mailbox's and the project's limiters, so the
mailbox runs at its quota instead of into 429s.
"""

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from crm_schemas.config import AccountConfigured, MailVisibility
from crm_schemas.lookups import MailboxPlace
from crm_schemas.mail import RawMessage
from crm_schemas.outcomes import ItemDropped
from fetcher.domain.api_messages import gmail_fetched
from fetcher.domain.gmail_labels import gmail_folder, synced_label_ids
from fetcher.domain.lookups import gmail_place
from fetcher.domain.mime import MessageSource
from fetcher.domain.quota import GMAIL_LABELS_LIST_UNITS, GMAIL_UNITS
from fetcher.domain.unreadable import read_message
from fetcher.providers.base import (
    ChangePage,
    CursorExpired,
    Phase,
    ProviderCursor,
    Quota,
    Throttled,
)
from fetcher.providers.gmail_batch import decode_batch, encode_batch
from fetcher.providers.http import ApiClient, ApiError, RateLimited, is_throttled, retry_after

PAGE_SIZE = 500  # messages.list and history.list allow up to 500 per page


class GmailMail:
    """One Gmail mailbox behind the MailProvider interface."""

    def __init__(
        self,
        api: ApiClient,
        base_url: str,
        account: AccountConfigured,
        quotas: Sequence[Quota],
        batch_size: int,
        body_max_bytes: int,
    ) -> None:
        self._api = api
        self._base = base_url.rstrip("/")
        self._account = account
        self._quotas = quotas
        self.fetch_size = batch_size
        self._body_max_bytes = body_max_bytes
        self._labels: dict[str, str] | None = None

    def streams(self) -> Sequence[str]:
        """Gmail's history is mailbox-wide: one stream."""
        return ("gmail",)

    async def changes(self, stream: str, cursor: ProviderCursor) -> ChangePage:
        """A page of message ids: messages.list during the import, history.list after."""
        if cursor.phase is Phase.INCREMENTAL:
            return await self._history(cursor)
        if cursor.token is None:  # note where history starts before listing anything
            profile = await self._get("profile", GMAIL_UNITS["getProfile"])
            return ChangePage((), ProviderCursor(token=str(profile["historyId"])), more=True)
        return await self._list(cursor)

    async def fetch(self, stream: str, refs: Sequence[str]) -> list[RawMessage | ItemDropped]:
        """messages.get of every ref in HTTP batches; only messages in synced labels."""
        labels = await self.labels()
        found: list[RawMessage | ItemDropped] = []
        for start in range(0, len(refs), self.fetch_size):
            for resource in await self._batch_get(refs[start : start + self.fetch_size]):
                message = self._message(resource, labels)
                if message is not None:
                    found.append(message)
        return found

    async def labels(self) -> dict[str, str]:
        """The mailbox's labels, id to name (read once per job)."""
        if self._labels is None:
            body = await self._get("labels", GMAIL_LABELS_LIST_UNITS)
            self._labels = {
                str(lb["id"]): str(lb.get("name", lb["id"])) for lb in body.get("labels", [])
            }
        return self._labels

    async def locate(self, message_id: str) -> list[MailboxPlace]:
        """Where the mailbox has the message (spam and trash included), by its labels:
        messages.list with ``q=rfc822msgid:``, then each one's labels."""
        params = {"q": f"rfc822msgid:{message_id}", "includeSpamTrash": "true"}
        body = await self._get("messages", GMAIL_UNITS["messages.list"], **params)
        labels = await self.labels()
        places = []
        for found in body.get("messages", []):
            path, units = f"messages/{found['id']}", GMAIL_UNITS["messages.get"]
            resource = await self._get(path, units, format="minimal")
            places.append(gmail_place(resource.get("labelIds", []), labels, self._account.mail))
        return places

    async def _spend(self, units: int) -> None:
        for quota in self._quotas:
            await quota.acquire(units)

    async def _spend_some(self, unit: int, wanted: int) -> int:
        """Units for as many of ``wanted`` requests as every quota has room for."""
        count = wanted
        for quota in self._quotas:
            count = await quota.acquire_some(unit, count)
        return count

    async def _get(self, path: str, units: int, **params: Any) -> dict[str, Any]:
        await self._spend(units)
        url = f"{self._base}/gmail/v1/users/me/{path}"
        return await self._api.json("GET", url, params=params)

    async def _list(self, cursor: ProviderCursor) -> ChangePage:
        label_ids = synced_label_ids(await self.labels(), self._account.mail)
        if cursor.step >= len(label_ids):
            following = replace(cursor, phase=Phase.INCREMENTAL, step=0, page=None)
            return ChangePage((), following, more=True)
        params: dict[str, Any] = {"labelIds": label_ids[cursor.step], "maxResults": PAGE_SIZE}
        if cursor.page:
            params["pageToken"] = cursor.page
        body = await self._get("messages", GMAIL_UNITS["messages.list"], **params)
        refs = tuple(str(m["id"]) for m in body.get("messages", []))
        token = body.get("nextPageToken")
        if token:
            return ChangePage(refs, replace(cursor, page=str(token), offset=0), more=True)
        after = replace(cursor, step=cursor.step + 1, page=None, offset=0)
        if after.step >= len(label_ids):
            after = replace(after, phase=Phase.INCREMENTAL, step=0)
        return ChangePage(refs, after, more=True)

    async def _history(self, cursor: ProviderCursor) -> ChangePage:
        params: dict[str, Any] = {
            "startHistoryId": cursor.token,
            "historyTypes": ["messageAdded", "labelAdded"],
            "maxResults": PAGE_SIZE,
        }
        if cursor.page:
            params["pageToken"] = cursor.page
        try:
            body = await self._get("history", GMAIL_UNITS["history.list"], **params)
        except ApiError as error:
            if error.status == 404:
                raise CursorExpired(f"Gmail historyId {cursor.token} expired") from error
            raise
        added = (
            str(entry["message"]["id"])
            for record in body.get("history", [])
            for kind in ("messagesAdded", "labelsAdded")
            for entry in record.get(kind, [])
        )
        refs = tuple(dict.fromkeys(added))
        token = body.get("nextPageToken")
        if token:
            return ChangePage(refs, replace(cursor, page=str(token), offset=0), more=True)
        done = replace(cursor, token=str(body["historyId"]), page=None, offset=0)
        return ChangePage(refs, done, more=False)

    def _format(self) -> str:
        return "raw" if self._account.mail.visibility == MailVisibility.FULL else "metadata"

    async def _batch_get(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """One batch of messages.get, retrying only the parts that did not succeed."""
        got: dict[str, dict[str, Any] | None] = {}
        try:
            await self._retry_parts(ids, got)
        except RateLimited as error:
            raise Throttled(f"{self._api.name} kept throttling a batch") from error
        return [resource for i in ids if (resource := got.get(i)) is not None]

    async def _retry_parts(self, ids: Sequence[str], got: dict[str, dict[str, Any] | None]) -> None:
        async for attempt in self._api.policy.retrying():
            with attempt:
                pending = [i for i in ids if i not in got]
                wait: float | None = None
                while pending:  # as many as the quota has room for, part after part
                    count = await self._spend_some(GMAIL_UNITS["messages.get"], len(pending))
                    part, pending = pending[:count], pending[count:]
                    wait = await self._batch_once(part, got)
                    if any(i not in got for i in part):
                        break  # throttled: the rest waits for the next attempt
                if any(i not in got for i in ids):
                    raise RateLimited(wait)

    async def _batch_once(
        self, ids: Sequence[str], got: dict[str, dict[str, Any] | None]
    ) -> float | None:
        """Send one batch, filling ``got``; the wait the throttled parts asked for."""
        fmt = self._format()
        content_type, body = encode_batch(
            [(i, f"/gmail/v1/users/me/messages/{i}?format={fmt}") for i in ids]
        )
        response = await self._api.send(
            "POST",
            f"{self._base}/batch/gmail/v1",
            content=body,
            headers={"Content-Type": content_type},
        )
        if response.status_code >= 300:
            raise ApiError(response.status_code, response.text)
        waits: list[float] = []
        for part in decode_batch(response.headers.get("content-type", ""), response.content):
            text = part.body.decode("utf-8", "replace")
            if part.status == 200:
                got[part.content_id] = part.json()
            elif part.status == 404:  # deleted since it was listed
                got[part.content_id] = None
            elif part.status == 401:  # the access token expired during the import
                await self._api.renew()
                waits.append(0.0)
            elif is_throttled(part.status, text):
                waits.append(retry_after(part.headers) or 0.0)
            else:
                raise ApiError(part.status, text)
        return max(waits) if waits else None

    def _message(
        self, resource: dict[str, Any], labels: dict[str, str]
    ) -> RawMessage | ItemDropped | None:
        folder = gmail_folder(resource.get("labelIds", []), labels, self._account.mail)
        if folder is None:
            return None
        source = MessageSource(
            workspace_id=self._account.workspace_id,
            account_id=self._account.account_id,
            folder=folder.name,
            folder_role=folder.role,
            uidvalidity=0,
            include_content=self._account.mail.visibility == MailVisibility.FULL,
            body_max_bytes=self._body_max_bytes,
        )
        ref = str(resource["id"])
        message = read_message(gmail_fetched(resource), source, ref)
        if isinstance(message, ItemDropped):
            return message
        return message.model_copy(update={"provider": "gmail", "provider_ref": ref})
