"""The HTTP app: routers, problem details, and a lifespan that runs the service's runtime.

``timeline-api`` (``python -m timeline_api``) serves it with uvicorn. Its lifespan builds
the runtime and the services once (``bootstrap``), subscribes the projection when
``TIMELINE_CONSUME`` is on, and runs the runtime's lifecycle (``crm_runtime.service.
running``): topics ensured, indexes made, consumers started, everything closed on the
way out.
"""

import argparse
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from crm_runtime.secrets import secret_box
from crm_runtime.service import build_runtime, running
from crm_runtime.settings import refuse_to_start
from timeline_api.api import (
    accounts,
    deadletters,
    explain,
    health,
    oauth_routes,
    opportunities,
    push,
    record_changes,
    records,
    replay,
    timelines,
    workspace,
)
from timeline_api.api.problems import install_problem_handlers
from timeline_api.bootstrap import Services, build_services
from timeline_api.entrypoints.projection import subscribe_projection
from timeline_api.settings import TimelineSettings
from timeline_api.web.app import mount_web

SERVICE = "timeline-api"
log = logging.getLogger(__name__)


def install(app: FastAPI, services: Services) -> None:
    """Hand the routers what they depend on (``api.deps`` reads it back)."""
    state = app.state
    state.settings = services.settings
    state.health = services.store
    state.records = services.records
    state.conversations = services.store
    state.timelines = services.timelines
    state.writer = services.writer
    state.directory = services.directory
    state.sync_queue = services.sync_queue
    state.connector = services.connector
    state.consents = services.consents
    state.replays = services.replays
    state.search = services.search
    state.account_actions = services.account_actions
    state.sign_in = services.sign_in
    state.dead_letters = services.dead_letters
    state.mailbox_search = services.mailbox_search
    state.push_inbox = services.push_inbox


def create_app(settings: TimelineSettings) -> FastAPI:
    """The API; its lifespan connects everything, and closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(SERVICE, settings)
        services = build_services(runtime, settings)
        install(app, services)
        runtime.on_start.append(services.prepare)
        if settings.consume:
            subscribe_projection(runtime, services)
        async with running(runtime, consume=settings.consume):  # else: the API only publishes
            await services.record_owner.start()  # answers to the records API's changes
            # What exists now lives as long as the process: keep it out of the collector's
            # full passes, which otherwise stall a request now and then.
            gc.freeze()
            log.info("service started", extra={"service": SERVICE, "consume": settings.consume})
            try:
                yield
            finally:
                await services.record_owner.stop()
                await services.push_inbox.close()

    app = FastAPI(
        title="CRM timeline API",
        version="0.1.0",
        description="People, companies, and the threads and meetings on their timelines.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    for router in (health.router, records.router, timelines.router, explain.router):
        app.include_router(router)
    for router in (record_changes.router, opportunities.router, workspace.router, replay.router):
        app.include_router(router)
    app.include_router(deadletters.router)
    for router in (oauth_routes.router, accounts.router):  # oauth first: /oauth is no id
        app.include_router(router)
    mount_web(app)
    app.include_router(push.router)
    return app


def main(argv: list[str] | None = None) -> None:
    """Serve the API on the configured host and port until stopped (on uvloop, with the
    httptools parser: about a third of a threads page's time went to the pure-Python
    HTTP parser and event loop)."""
    argparse.ArgumentParser(
        prog="timeline-api",
        description="Serve the HTTP API and the web app; with TIMELINE_CONSUME=true (the"
        " default) also run the read model's projection. Runs until SIGTERM.",
        epilog="Settings come from TIMELINE_* environment variables (docs/configuration.md).",
    ).parse_args(argv)
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
