"""Run the enricher: ``python -m enricher`` or the ``enricher`` console script."""

import argparse

from crm_runtime.service import run
from enricher.app import build
from enricher.settings import EnricherSettings


def main(argv: list[str] | None = None) -> None:
    """Read settings from the environment and run until stopped."""
    argparse.ArgumentParser(
        prog="enricher",
        description="Creates people and companies by domain and emits the timeline records."
        " Runs until SIGTERM.",
        epilog="Settings come from ENRICHER_* environment variables (docs: README, Settings).",
    ).parse_args(argv)
    run(build(EnricherSettings()))


if __name__ == "__main__":
    main()
