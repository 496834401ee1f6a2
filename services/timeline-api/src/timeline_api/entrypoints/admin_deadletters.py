"""``crm-admin deadletters list | show ID | retry``: every workspace's dead letters, for
operators (a workspace's admins have ``/v1/deadletters`` for their own).

    crm-admin deadletters list [--topic T] [--since T] [--error-type E] [--workspace W] [--pending]
    crm-admin deadletters show ID
    crm-admin deadletters retry [--since T] [--topic T] [--error-type E] [--workspace W] [ID ...]

Each prints JSON. See docs/dead-letters.md.
"""

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from typing import Any

from crm_runtime.service import build_runtime, running
from timeline_api.adapters.dead_letters import MongoDeadLetters
from timeline_api.adapters.kafka import raw_publisher
from timeline_api.domain.dead_letters import DeadLetterQuery, StoredDeadLetter
from timeline_api.domain.ownership import NotFoundError
from timeline_api.service.dead_letters import DeadLetterDesk
from timeline_api.settings import TimelineSettings

LIST_LIMIT = 200
OPERATOR = "crm-admin"


@asynccontextmanager
async def _desk(settings: TimelineSettings) -> AsyncIterator[DeadLetterDesk]:
    async with running(build_runtime("crm-admin", settings), consume=False) as runtime:
        letters = MongoDeadLetters(runtime.db)
        yield DeadLetterDesk(letters, raw_publisher(runtime.broker), runtime.topics.all())


def add_commands(commands: Any) -> None:
    """The ``deadletters`` command and its three actions, on crm-admin's parser."""
    parser = commands.add_parser(
        "deadletters", help="list, show and re-drive the dead letters of every service"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="dead letters newest first, counts by error")
    _filters(listing)
    listing.add_argument("--pending", action="store_true", help="only those not re-driven")
    listing.add_argument("--limit", type=int, default=50)
    show = actions.add_parser("show", help="one dead letter with its payload")
    show.add_argument("letter_id")
    retry = actions.add_parser(
        "retry", help="send the payloads back to their topics (those not re-driven yet)"
    )
    _filters(retry)
    retry.add_argument("letter_ids", nargs="*", metavar="ID", help="only these dead letters")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--topic", help="source topic, e.g. crm.mail.raw.v1")
    parser.add_argument("--since", type=datetime.fromisoformat, help="ISO 8601, with a zone")
    parser.add_argument("--error-type", dest="error_type")
    parser.add_argument("--workspace", help="one workspace's only")


def _query(args: argparse.Namespace, pending: bool = False) -> DeadLetterQuery:
    return DeadLetterQuery(args.workspace, args.topic, args.since, args.error_type, pending)


def _view(letter: StoredDeadLetter, payload: bool = False) -> dict[str, Any]:
    exclude = {"letter_id", "schema_version"}
    exclude |= set() if payload else {"payload", "payload_encoding"}
    return {"id": letter.letter_id} | letter.model_dump(mode="json", exclude=exclude)


async def run(args: argparse.Namespace, settings: TimelineSettings) -> str:
    """Do one ``deadletters`` action; its result as JSON."""
    async with _desk(settings) as desk:
        if args.action == "list":
            limit = max(1, min(args.limit, LIST_LIMIT))
            listing = await desk.listing(_query(args, args.pending), None, limit)
            result: dict[str, Any] = {
                "counts": [asdict(c) for c in listing.counts],
                "items": [_view(x) for x in listing.letters],
                "more": listing.next_cursor is not None,
            }
        elif args.action == "show":
            try:
                result = _view(await desk.show(args.letter_id, None), payload=True)
            except NotFoundError as missing:
                raise LookupError(str(missing)) from missing
        else:
            done = await desk.retry(_query(args), OPERATOR, args.letter_ids)
            result = {
                "retried": done.retried,
                "refused": [{"id": i, "reason": why} for i, why in done.refused],
                "more": done.more,
            }
    return json.dumps(result, indent=2, default=str)
