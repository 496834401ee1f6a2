"""FerretDB's disk stays bounded: the write-ahead log does not keep a burst's size.

SQLite cannot start its write-ahead log over while readers keep using it, so under an
import's concurrent readers and writers the log grows past the size of the database
itself, and it used to keep that size for good. The local stack's FerretDB empties each
database's log whenever nothing uses it (a patch, tools/ferretdb) and cuts a log that
starts over back to 4 MB (``journal_size_limit``, scripts/stack.sh). The test imports
3,000 messages on the private FerretDB and prints the disk they take per 10,000 messages
(docs/operations.md quotes it).
"""

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.e2e.outage_imports import MESSAGES, Import
from tests.e2e.private_stack import PrivateStack

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

LIMIT = 4 * 1024 * 1024  # journal_size_limit in scripts/stack.sh
SLACK = 2 * LIMIT  # the log grows again between two starts over (a checkpoint per 4 MB)
MB = 1024 * 1024


async def test_the_write_ahead_log_is_cut_back_once_an_import_is_done(
    private_stack: PrivateStack,
    imports: Callable[[], Import],
    capsys: pytest.CaptureFixture[str],
) -> None:
    one = imports()
    prefix = f"{one.system.prefix}_"
    await one.prepare()
    peak = 0
    await one.connect()
    settling = asyncio.create_task(one.settle())
    while not settling.done():
        peak = max(peak, private_stack.disk_bytes(prefix)["wal"])
        await asyncio.sleep(0.5)
    after_import = private_stack.disk_bytes(prefix)

    assert await one.stored() == MESSAGES

    deadline = time.monotonic() + 90  # the index catches up, then a checkpoint every 10 s
    while max(private_stack.wal_bytes(prefix).values()) > SLACK:
        assert time.monotonic() < deadline, private_stack.wal_bytes(prefix)
        peak = max(peak, private_stack.disk_bytes(prefix)["wal"])
        await asyncio.sleep(0.5)
    calm = private_stack.disk_bytes(prefix)

    per_10k = 10_000 / MESSAGES / MB
    with capsys.disabled():
        print(
            f"\nFerretDB disk per 10,000 messages ({MESSAGES} imported, 4 databases): "
            f"databases {calm['sqlite'] * per_10k:.0f} MB; write-ahead logs "
            f"{peak * per_10k:.0f} MB at the import's peak, "
            f"{after_import['wal'] * per_10k:.0f} MB when its last message was stored, "
            f"{calm['wal'] / MB:.1f} MB in all once idle"
        )
