"""The composition root: the HTTP app, its read model, and its projection consumers."""

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel

from crm_runtime.bus import ensure_topics, publish
from crm_runtime.secrets import secret_box
from crm_runtime.service import TOPIC_PARTITIONS, build_runtime
from timeline_api.accounts import Connector
from timeline_api.api import (
    accounts,
    explain,
    health,
    oauth_routes,
    opportunities,
    record_changes,
    records,
    timelines,
    workspace,
)
from timeline_api.api.accounts import SyncQueue
from timeline_api.api.problems import install_problem_handlers
from timeline_api.connection_check import CheckPolicy
from timeline_api.directory import Directory
from timeline_api.oauth import consents
from timeline_api.projection import register_projection
from timeline_api.record_writes import RecordWriter
from timeline_api.rosters import CompanyRosters
from timeline_api.settings import TimelineSettings
from timeline_api.store import TimelineStore
from timeline_api.timeline_index import TimelineIndex

SERVICE = "timeline-api"
log = logging.getLogger(__name__)


def create_app(settings: TimelineSettings) -> FastAPI:
    """The API; its lifespan connects everything, and closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(SERVICE, settings)
        store = TimelineStore(runtime.db)
        app.state.settings = settings
        app.state.store = store
        app.state.index = TimelineIndex(store.db)
        app.state.rosters = CompanyRosters(store.db)
        app.state.records = RecordWriter(store, runtime.broker, runtime.topics.records)

        async def publish_config(key: str, event: BaseModel) -> None:
            await publish(runtime.broker, runtime.topics.config, key, event)

        async def publish_sync(key: str, event: BaseModel) -> None:
            await publish(runtime.broker, runtime.topics.sync_requests, key, event)

        app.state.directory = Directory(runtime.db, publish_config)
        app.state.sync_queue = SyncQueue(publish_sync)
        policy = CheckPolicy(settings.allow_private_hosts, settings.connect_timeout_s)
        app.state.connector = Connector(secret_box(settings), policy)
        app.state.consents = consents(settings)
        try:
            await ensure_topics(settings.kafka_bootstrap, runtime.topics.all(), TOPIC_PARTITIONS)
            await store.create_indexes()
            await app.state.index.prepare()
            await app.state.rosters.prepare()
            if settings.consume:
                register_projection(runtime, store, app.state.directory)
                await runtime.broker.start()
            else:
                await runtime.broker.connect()  # the records API publishes
            # What exists now lives as long as the process: keep it out of the collector's
            # full passes, which otherwise stall a request now and then.
            gc.freeze()
            log.info("service started", extra={"service": SERVICE, "consume": settings.consume})
            yield
        finally:
            await runtime.broker.stop()
            await runtime.bulk.close()
            await runtime.mongo.close()
            runtime.tracer.shutdown()

    app = FastAPI(
        title="CRM timeline API",
        version="0.1.0",
        description="People, companies, and the threads and meetings on their timelines.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    for router in (health.router, records.router, timelines.router, explain.router):
        app.include_router(router)
    for router in (record_changes.router, opportunities.router, workspace.router):
        app.include_router(router)
    for router in (oauth_routes.router, accounts.router):  # oauth first: /oauth is no id
        app.include_router(router)
    return app
