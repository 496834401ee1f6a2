"""Mailbox lookups: where an account's mailbox has a message, for "why isn't this email
here?" when the message never reached the pipeline (an excluded folder, spam, trash).

The timeline API asks with a ``MessageLookupRequested`` keyed by account id; the worker
searches every folder of the mailbox, excluded ones included (IMAP: EXAMINE and ``UID
SEARCH HEADER Message-ID`` in each; Gmail: ``rfc822msgid:``; Graph: ``internetMessageId``),
decides for each place whether the account syncs it by the sync's own rules
(``domain.lookups``), and answers with a ``MessageLookupAnswered`` keyed by the lookup id.
A mailbox that cannot be reached is an answer too (``failed``, with the reason the
account's status would give), never a retry loop.
"""

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from crm_schemas.config import AccountConfigured, ImapConnection
from crm_schemas.lookups import MailboxPlace, MessageLookupAnswered, MessageLookupRequested
from crm_schemas.topics import Topics
from fetcher.domain.lookups import imap_place
from fetcher.domain.model import Folder, FolderState
from fetcher.domain.problems import SyncProblem, explain
from fetcher.ports import PasswordReader, Publisher
from fetcher.providers.base import Throttled
from fetcher.providers.http import ApiError

log = logging.getLogger(__name__)
MAX_FOLDERS = 500
"""Folders searched at most in one IMAP mailbox."""
SEARCH_FAILED = "The mailbox could not be searched now (the provider refused or throttled)"


class NotConnectedError(Exception):
    """The account is not connected (unknown to the fetcher, or disconnected)."""


class SearchableMailbox(Protocol):
    """An open IMAP session that can search a folder by Message-ID."""

    async def folders(self) -> list[Folder]: ...

    async def examine(self, folder: str) -> FolderState: ...

    async def search_message_id(self, message_id: str) -> list[int]: ...


class Locating(Protocol):
    """An API mailbox (Gmail, Graph) that can say where it has a message."""

    async def locate(self, message_id: str) -> list[MailboxPlace]: ...


class AccountSource(Protocol):
    """The fetcher's projection of the config topic."""

    async def account(self, account_id: str) -> AccountConfigured | None: ...


@dataclass(frozen=True, slots=True)
class LookupPorts:
    """What a lookup talks to."""

    topics: Topics
    accounts: AccountSource
    open_imap: Callable[[ImapConnection, SecretStr], AbstractAsyncContextManager[SearchableMailbox]]
    open_api: Callable[[AccountConfigured], AbstractAsyncContextManager[Locating]]
    password: PasswordReader
    publish: Publisher


async def imap_places(
    mailbox: SearchableMailbox, message_id: str, account: AccountConfigured
) -> list[MailboxPlace]:
    """Every selectable folder that has the message, and whether it is synced."""
    places = []
    for folder in [f for f in await mailbox.folders() if f.selectable][:MAX_FOLDERS]:
        await mailbox.examine(folder.name)
        if await mailbox.search_message_id(message_id):
            places.append(imap_place(folder, account.mail))
    return places


class MessageLookups:
    """Answers mailbox lookups, one at a time."""

    def __init__(self, ports: LookupPorts) -> None:
        self._ports = ports

    async def handle(self, request: MessageLookupRequested) -> None:
        """Search the account's mailbox and publish where it has the message."""
        account = await self._ports.accounts.account(request.account_id)
        try:
            if account is None or account.disconnected:
                raise NotConnectedError
            places = await self._places(account, request.message_id)
        except NotConnectedError:
            answer = self._answer(request, "failed", problem="This account is not connected")
        except SyncProblem as problem:
            answer = self._answer(request, "failed", problem=explain(problem).reason)
        except (Throttled, ApiError) as error:
            context = {"account_id": request.account_id, "error": repr(error)}
            log.warning("lookup failed", extra=context)
            answer = self._answer(request, "failed", problem=SEARCH_FAILED)
        else:
            state = "found" if places else "not_found"
            answer = self._answer(request, state, places=tuple(places))
        topic = self._ports.topics.lookup_results
        await self._ports.publish(topic, request.lookup_id, answer)

    async def _places(self, account: AccountConfigured, message_id: str) -> list[MailboxPlace]:
        if account.imap is not None:
            password = self._ports.password(account.imap.password_encrypted, "IMAP")
            async with self._ports.open_imap(account.imap, password) as mailbox:
                return await imap_places(mailbox, message_id, account)
        if account.oauth is not None:
            async with self._ports.open_api(account) as provider:
                return await provider.locate(message_id)
        return []

    @staticmethod
    def _answer(
        request: MessageLookupRequested,
        state: str,
        places: tuple[MailboxPlace, ...] = (),
        problem: str | None = None,
    ) -> MessageLookupAnswered:
        return MessageLookupAnswered.model_validate(
            {
                "lookup_id": request.lookup_id,
                "workspace_id": request.workspace_id,
                "account_id": request.account_id,
                "message_id": request.message_id,
                "state": state,
                "places": places,
                "problem": problem,
            }
        )
