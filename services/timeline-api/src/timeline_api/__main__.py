"""Run the timeline API: ``timeline-api`` or ``python -m timeline_api``."""

import uvicorn

from crm_runtime.secrets import secret_box
from crm_runtime.settings import refuse_to_start
from timeline_api.app import create_app
from timeline_api.settings import TimelineSettings


def main() -> None:
    """Serve the API on the configured host and port until stopped (on uvloop, with the
    httptools parser: about a third of a threads page's time went to the pure-Python
    HTTP parser and event loop)."""
    settings = TimelineSettings()
    with refuse_to_start("timeline-api"):
        secret_box(settings)  # accounts' passwords are sealed with the deployment's key
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
