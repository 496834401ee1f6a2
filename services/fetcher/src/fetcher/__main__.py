"""``fetcher worker | scheduler | sync-now --account ID [--kind mail|calendar]``."""

import argparse
import asyncio
import sys

from crm_runtime.service import run
from crm_runtime.settings import refuse_to_start
from crm_schemas.sync import SyncKind


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fetcher", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser(
        "worker",
        help="consume sync jobs (the default), and hold the IMAP IDLE watches (push) of the"
        " accounts whose jobs this worker owns",
    )
    commands.add_parser("scheduler", help="queue a sync job for every account periodically")
    now = commands.add_parser("sync-now", help="queue one sync job and exit")
    now.add_argument("--account", required=True, help="the account id")
    now.add_argument("--kind", choices=[k.value for k in SyncKind], default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; settings are read from the environment here, not at import."""
    from fetcher.app import build
    from fetcher.scheduler import request_sync, run_scheduler
    from fetcher.settings import FetcherSettings

    args = _parser().parse_args(argv)
    settings = FetcherSettings()
    if args.command == "scheduler":
        run_scheduler(settings)
    elif args.command == "sync-now":
        kind = SyncKind(args.kind) if args.kind else None
        try:
            queued = asyncio.run(request_sync(settings, args.account, kind))
        except LookupError as error:
            print(error, file=sys.stderr)
            return 1
        print(f"queued {len(queued)} sync job(s) for {args.account}")
    else:
        with refuse_to_start("fetcher worker"):
            runtime = build(settings)
        run(runtime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
