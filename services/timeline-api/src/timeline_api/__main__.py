"""Run the timeline API: ``timeline-api`` or ``python -m timeline_api``."""

import asyncio

import uvicorn

from timeline_api.app import create_app
from timeline_api.settings import TimelineSettings


def main() -> None:
    """Serve the API on the configured host and port until stopped."""
    settings = TimelineSettings()
    config = uvicorn.Config(
        create_app(settings), host=settings.host, port=settings.port, log_config=None
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
