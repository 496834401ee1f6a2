"""Microsoft Graph mail: a delta query per synced folder, messages read in $batch.

learn.microsoft.com/graph/delta-query-messages: follow ``@odata.nextLink`` until an
``@odata.deltaLink``, store it, and start the next round from it. A 410 Gone (or the
``syncStateNotFound`` / ``resyncRequired`` codes) means the delta token is gone: start the
folder over. At most ``concurrency`` requests run at once per mailbox (Graph allows four);
a $batch carries up to 20 requests, each throttled on its own (429 with Retry-After).
"""

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from crm_schemas.config import AccountConfigured, MailSettings, MailVisibility
from crm_schemas.folders import is_synced_folder
from crm_schemas.lookups import MailboxPlace
from crm_schemas.mail import FolderRole, RawMessage
from crm_schemas.outcomes import ItemDropped
from fetcher.domain.api_messages import graph_fetched
from fetcher.domain.lookups import place
from fetcher.domain.mime import MessageSource
from fetcher.domain.text import truncate_utf8
from fetcher.domain.unreadable import read_message
from fetcher.providers.base import (
    ChangePage,
    CursorExpired,
    Phase,
    ProviderCursor,
    Quota,
    Throttled,
)
from fetcher.providers.http import ApiClient, ApiError, RateLimited, is_throttled

PAGE_SIZE = 100
# 410 Gone for Outlook resources; 400 syncStateNotFound elsewhere (compared case-blind).
EXPIRED_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})
_FOLDER_ROLES = {
    "inbox": FolderRole.INBOX,
    "sentitems": FolderRole.SENT,
    "archive": FolderRole.ARCHIVE,
    "deleteditems": FolderRole.TRASH,
    "junkemail": FolderRole.JUNK,
    "drafts": FolderRole.DRAFTS,
}
_SELECT = (
    "id,internetMessageId,subject,from,sender,toRecipients,ccRecipients,bccRecipients,"
    "replyTo,sentDateTime,receivedDateTime,internetMessageHeaders,hasAttachments"
)


def graph_streams(settings: MailSettings) -> list[str]:
    """The folders a Graph mailbox syncs: inbox, sent items, then the included ones (by
    well-known name or folder id); never junk, deleted items, drafts or an excluded one
    (``crm_schemas.folders``)."""
    chosen = ["inbox", "sentitems", *(n.strip() for n in settings.include_folders)]
    unique = dict.fromkeys(n for n in chosen if n)
    return [name for name in unique if is_synced_folder((name,), _role(name), settings)]


def _role(stream: str) -> FolderRole:
    return _FOLDER_ROLES.get(stream.casefold(), FolderRole.OTHER)


class GraphMail:
    """One Microsoft 365 mailbox behind the MailProvider interface."""

    def __init__(
        self,
        api: ApiClient,
        base_url: str,
        account: AccountConfigured,
        batch_size: int,
        concurrency: int,
        body_max_bytes: int,
        quota: Quota | None = None,
    ) -> None:
        self._api = api
        self._base = base_url.rstrip("/")
        self._account = account
        self._batch_size = batch_size
        self.fetch_size = batch_size * concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._body_max_bytes = body_max_bytes
        self._quota = quota

    @property
    def _full(self) -> bool:
        return self._account.mail.visibility == MailVisibility.FULL

    def streams(self) -> Sequence[str]:
        """One delta stream per synced folder."""
        mail = self._account.mail
        return graph_streams(mail)

    async def changes(self, stream: str, cursor: ProviderCursor) -> ChangePage:
        """The delta page the cursor points at."""
        url = cursor.page or cursor.token or f"{self._base}/me/mailFolders/{stream}/messages/delta"
        # A next or delta link carries its own query; httpx would replace it with params.
        params = None if (cursor.page or cursor.token) else {"$select": "id"}
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
        await self._spend(1)
        try:
            async with self._slots:
                body = await self._api.json("GET", url, params=params, headers=headers)
        except ApiError as error:
            if error.status == 410 or error.reason.casefold() in EXPIRED_CODES:
                raise CursorExpired(f"Graph delta of {stream} expired: {error.reason}") from error
            raise
        refs = tuple(str(m["id"]) for m in body.get("value", []) if "@removed" not in m)
        next_link = body.get("@odata.nextLink")
        if next_link:
            return ChangePage(refs, replace(cursor, page=str(next_link), offset=0), more=True)
        delta = str(body["@odata.deltaLink"])
        after = replace(cursor, phase=Phase.INCREMENTAL, token=delta, page=None, offset=0)
        return ChangePage(refs, after, more=False)

    async def fetch(self, stream: str, refs: Sequence[str]) -> list[RawMessage | ItemDropped]:
        """The messages behind ``refs``, in $batch requests run ``concurrency`` at a time."""
        chunks = [refs[i : i + self._batch_size] for i in range(0, len(refs), self._batch_size)]
        answered = await asyncio.gather(*(self._batch_get(chunk) for chunk in chunks))
        return [self._message(stream, r) for resources in answered for r in resources]

    async def locate(self, message_id: str) -> list[MailboxPlace]:
        """Where the mailbox has the message, in any folder: messages filtered by
        ``internetMessageId``, each one's folder compared with the synced ones."""
        quoted = f"<{message_id}>".replace("'", "''")
        query = {"$filter": f"internetMessageId eq '{quoted}'", "$select": "id,parentFolderId"}
        body = await self._get_json(f"{self._base}/me/messages", query)
        parents = [str(m["parentFolderId"]) for m in body.get("value", [])]
        if not parents:
            return []
        mail = self._account.mail
        synced = {await self._folder_id(name) for name in self.streams()}
        excluded = {await self._folder_id(name) for name in mail.exclude_folders}
        roles = {await self._folder_id(name): role for name, role in _FOLDER_ROLES.items()}
        places = []
        for parent in parents:
            folder = await self._get_json(f"{self._base}/me/mailFolders/{parent}", None)
            name = str(folder.get("displayName") or parent)
            role = roles.get(parent, FolderRole.OTHER)
            places.append(place(name, role, parent in synced, parent in excluded))
        return places

    async def _folder_id(self, name: str) -> str | None:
        """A folder's id from its well-known name or its id; None when there is none."""
        try:
            folder = await self._get_json(f"{self._base}/me/mailFolders/{name}", None)
        except ApiError as error:
            if error.status in (400, 404):
                return None
            raise
        return str(folder["id"])

    async def _get_json(self, url: str, params: dict[str, str] | None) -> dict[str, Any]:
        await self._spend(1)
        async with self._slots:
            return await self._api.json("GET", url, params=params)

    async def _spend(self, requests: int) -> None:
        if self._quota is not None:
            await self._quota.acquire(requests)

    def _request(self, index: int, message_id: str) -> dict[str, Any]:
        select = f"{_SELECT},body" if self._full else _SELECT
        request: dict[str, Any] = {
            "id": str(index),
            "method": "GET",
            "url": f"/me/messages/{message_id}?$select={select}",
        }
        if self._full:
            request["headers"] = {"Prefer": 'outlook.body-content-type="text"'}
        return request

    async def _batch_get(self, ids: Sequence[str]) -> list[dict[str, Any]]:
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
                wait = await self._batch_once(pending, got)
                if any(i not in got for i in ids):
                    raise RateLimited(wait)

    async def _batch_once(
        self, ids: Sequence[str], got: dict[str, dict[str, Any] | None]
    ) -> float | None:
        payload = {"requests": [self._request(n, i) for n, i in enumerate(ids)]}
        await self._spend(len(ids))  # each request inside a $batch counts on its own
        async with self._slots:
            body = await self._api.json("POST", f"{self._base}/$batch", json=payload)
        waits: list[float] = []
        for answer in body.get("responses", []):
            message_id = ids[int(answer["id"])]
            status = int(answer.get("status", 500))
            inner = answer.get("body") or {}
            if status == 200:
                got[message_id] = inner
            elif status == 404:  # deleted since the delta listed it
                got[message_id] = None
            elif status == 401:
                await self._api.renew()
                waits.append(0.0)
            elif is_throttled(status, _text(inner)):
                headers = {k.lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
                waits.append(float(headers.get("retry-after", 0) or 0))
            else:
                raise ApiError(status, _text(inner))
        return max(waits) if waits else None

    def _message(self, stream: str, resource: dict[str, Any]) -> RawMessage | ItemDropped:
        source = MessageSource(
            workspace_id=self._account.workspace_id,
            account_id=self._account.account_id,
            folder=stream,
            folder_role=_role(stream),
            uidvalidity=0,
        )
        ref = str(resource["id"])
        message = read_message(graph_fetched(resource), source, ref)
        if isinstance(message, ItemDropped):
            return message
        update: dict[str, object] = {"provider": "graph", "provider_ref": ref}
        if self._full:
            content = str((resource.get("body") or {}).get("content") or "").strip()
            update["body_text"] = truncate_utf8(content, self._body_max_bytes) or None
        return message.model_copy(update=update)


def _text(value: object) -> str:
    return json.dumps(value) if not isinstance(value, str) else value
