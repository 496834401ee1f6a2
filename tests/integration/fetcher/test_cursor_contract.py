"""One contract for folder cursors, run against the in-memory fake and real FerretDB."""

import pytest

from fetcher.adapters.cursors import MongoCursorStore
from fetcher.adapters.memory import InMemoryCursorStore
from fetcher.domain.model import FolderCursor
from fetcher.ports import CursorStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "mongo"])
def store(request: pytest.FixtureRequest) -> CursorStore:
    if request.param == "memory":
        return InMemoryCursorStore()
    return MongoCursorStore(request.getfixturevalue("db"))


async def test_a_folder_has_no_cursor_before_its_first_import(store: CursorStore):
    assert await store.load("acc", "INBOX") is None


async def test_a_saved_cursor_is_loaded_back(store: CursorStore):
    await store.save("acc", "INBOX", FolderCursor(uidvalidity=5, last_uid=42, done=40))
    assert await store.load("acc", "INBOX") == FolderCursor(5, 42, 40)


async def test_the_last_save_wins(store: CursorStore):
    await store.save("acc", "INBOX", FolderCursor(5, 1, 1))
    await store.save("acc", "INBOX", FolderCursor(6, 2, 2))
    assert await store.load("acc", "INBOX") == FolderCursor(6, 2, 2)


async def test_cursors_are_per_account_and_folder(store: CursorStore):
    await store.save("acc", "INBOX", FolderCursor(5, 1, 1))
    await store.save("acc", "Sent/Old", FolderCursor(7, 3, 3))
    await store.save("other", "INBOX", FolderCursor(9, 9, 9))
    assert await store.load("acc", "Sent/Old") == FolderCursor(7, 3, 3)
    assert await store.load("other", "INBOX") == FolderCursor(9, 9, 9)
    assert await store.load("acc", "Sent") is None
