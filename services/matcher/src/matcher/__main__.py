"""Run the matcher: ``python -m matcher`` or the ``matcher`` console script."""

import argparse

from crm_runtime.service import run
from matcher.app import build
from matcher.settings import MatcherSettings


def main(argv: list[str] | None = None) -> None:
    """Read settings from the environment and run until stopped."""
    argparse.ArgumentParser(
        prog="matcher",
        description="Drops what must never be shared (with its reason) and links participants"
        " to people. Runs until SIGTERM.",
        epilog="Settings come from MATCHER_* environment variables (docs: README, Settings).",
    ).parse_args(argv)
    run(build(MatcherSettings()))


if __name__ == "__main__":
    main()
