"""Run the timeline API: ``timeline-api`` or ``python -m timeline_api``."""

import argparse

import uvicorn

from timeline_api.app import create_app
from timeline_api.settings import TimelineSettings


def main(argv: list[str] | None = None) -> None:
    """Serve the API on the configured host and port until stopped (on uvloop, with the
    httptools parser: about a third of a threads page's time went to the pure-Python
    HTTP parser and event loop)."""
    argparse.ArgumentParser(
        prog="timeline-api",
        description="Serve the HTTP API; with TIMELINE_CONSUME=true (the default) also run "
        "the read model's projection. Runs until SIGTERM.",
        epilog="Settings come from TIMELINE_* environment variables (docs: README, Settings).",
    ).parse_args(argv)
    settings = TimelineSettings()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        loop="uvloop",
        http="httptools",
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
