"""``crm-admin replay`` and ``crm-admin compact-topics`` (docs/replay.md).

``replay`` asks for a replay job as the API does (a refused range exits with code 2 and
the reason), then follows it with a progress line until the matcher has processed it
(``--no-wait``: only ask). The job itself runs in the timeline API's consumer of the jobs
topic, so a running API (``TIMELINE_CONSUME=true``) is needed for it to move.
"""

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from crm_runtime.service import build_runtime, running
from timeline_api.adapters.directory import MongoDirectory
from timeline_api.adapters.kafka import topic_publisher
from timeline_api.adapters.replay_log import compact
from timeline_api.api.replay import ReplayJobView
from timeline_api.bootstrap import replay_jobs
from timeline_api.domain.replay import ReplayScope, kinds_of
from timeline_api.service.replay import ReplayRefusedError
from timeline_api.settings import TimelineSettings

POLL_S = 1.0


class ReplayCommandError(Exception):
    """A replay cannot be asked for as given; the message says why."""


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """The replay commands' arguments."""
    replay = commands.add_parser(
        "replay",
        help="reprocess the raw topics under the settings now; follows the job to its end",
    )
    replay.add_argument("--kind", choices=["mail", "calendar", "both"], required=True)
    replay.add_argument(
        "--since", required=True, help="an ISO 8601 time (UTC if no zone given), or 'everything'"
    )
    who = replay.add_mutually_exclusive_group(required=True)
    who.add_argument("--workspace", help="replay one workspace's items")
    who.add_argument("--all", action="store_true", dest="every", help="every workspace's items")
    replay.add_argument("--no-wait", action="store_true", help="ask for the job and return")
    commands.add_parser(
        "compact-topics",
        help="make the existing config, mail.raw and calendar.raw topics compacted (new"
        " ones are created so); prints the topics changed",
    )


def parse_since(value: str) -> datetime | None:
    """'everything' (None) or an ISO 8601 time, UTC when it names no zone."""
    if value.strip().lower() == "everything":
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError as error:
        raise ReplayCommandError(f"--since {value!r} is neither a time nor 'everything'") from error
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def replay(
    settings: TimelineSettings,
    args: argparse.Namespace,
    show: Callable[[str], None] = lambda line: None,
) -> ReplayJobView:
    """Ask for the replay; follow it to its end unless ``--no-wait``; the job's last view."""
    since = parse_since(args.since)
    async with running(build_runtime("crm-admin", settings), consume=False) as runtime:
        if args.workspace is not None:
            directory = MongoDirectory(
                runtime.db, topic_publisher(runtime.broker, runtime.topics.config)
            )
            if await directory.workspace(args.workspace) is None:
                raise ReplayCommandError(f"no workspace with id {args.workspace}")
        replays = replay_jobs(runtime, settings)
        scope = ReplayScope(None if args.every else args.workspace)
        try:
            job = await replays.request(scope, kinds_of(args.kind), since, "crm-admin")
        except ReplayRefusedError as refused:
            raise ReplayCommandError(str(refused)) from refused
        while True:
            found = await replays.progress(job.job_id)
            assert found is not None  # stored just now
            view = ReplayJobView.of(*found)
            show(progress_line(view))
            if args.no_wait or view.state == "done":
                return view
            await asyncio.sleep(POLL_S)


def progress_line(view: ReplayJobView) -> str:
    """One line of where the job stands."""
    line = (
        f"replay {view.id}: {view.state}; read {view.read.done}/{view.read.total}"
        f" (copied {view.copied}); processed {view.processed.done}/{view.processed.total}"
    )
    return f"{line}; last error: {view.error}" if view.error else line


def line_printer() -> Callable[[str], None]:
    """Prints progress to stderr: one line rewritten in place on a terminal, else a line
    per change."""
    last = [""]

    def show(line: str) -> None:
        if line == last[0]:
            return
        last[0] = line
        if sys.stderr.isatty():
            print(f"\r{line}\033[K", end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)

    return show


async def compact_topics(settings: TimelineSettings) -> list[str]:
    """Make the existing topics that must be compacted so; the topics changed."""
    return await compact(settings.kafka_bootstrap, settings.topics.compacted())
