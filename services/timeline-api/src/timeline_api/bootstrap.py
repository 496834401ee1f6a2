"""The composition root: the real adapters wired into the use cases, once per process.

``build_services`` is all the HTTP app, the projection and ``crm-admin`` need; the read
model behind the timelines tabs is chosen by ``TIMELINE_READ_MODEL`` (``read_model``).
"""

from dataclasses import dataclass
from datetime import timedelta

from crm_runtime.secrets import push_keys, secret_box
from crm_runtime.service import Runtime
from crm_schemas.config import OAuthProvider
from crm_schemas.push import GMAIL_PUSH_PATH
from timeline_api.adapters.connection_check import CheckPolicy, ConnectionChecks
from timeline_api.adapters.directory import MongoDirectory
from timeline_api.adapters.kafka import topic_publisher
from timeline_api.adapters.oauth import consents
from timeline_api.adapters.projection_store import MongoProjectionStore
from timeline_api.adapters.push_marks import MongoPushMarks
from timeline_api.adapters.push_tokens import GoogleSignedTokens
from timeline_api.adapters.record_index import MongoAddressOwners
from timeline_api.adapters.records import MongoRecords
from timeline_api.adapters.timeline_store import TimelineStore
from timeline_api.adapters.timelines.heads import HeadsReadModel
from timeline_api.adapters.timelines.heads.mongo import forget_ready
from timeline_api.adapters.timelines.indexed import IndexedReadModel
from timeline_api.domain.push import GoogleAudience
from timeline_api.ports import Consent
from timeline_api.service.accounts import Connector, SyncQueue
from timeline_api.service.projection import Projection
from timeline_api.service.push import PushInbox
from timeline_api.service.records import RecordWriter
from timeline_api.service.timelines import TimelineQueries
from timeline_api.settings import TimelineSettings

ReadModel = HeadsReadModel | IndexedReadModel


def read_model(runtime: Runtime, settings: TimelineSettings) -> ReadModel:
    """The read model ``TIMELINE_READ_MODEL`` names: ``heads`` (FerretDB) or ``indexed``
    (MongoDB)."""
    if settings.read_model == "indexed":
        return IndexedReadModel(runtime.db)
    return HeadsReadModel(runtime.db, runtime.bulk, runtime.topics)


@dataclass(frozen=True)
class Services:
    """Everything the entry points use, built once."""

    settings: TimelineSettings
    store: TimelineStore
    records: MongoRecords
    read_model: ReadModel
    timelines: TimelineQueries
    writer: RecordWriter
    directory: MongoDirectory
    sync_queue: SyncQueue
    connector: Connector
    consents: dict[OAuthProvider, Consent]
    projection: Projection
    push_inbox: PushInbox

    async def prepare(self) -> None:
        """What must exist before the first request or event: the read model's indexes,
        and the read model's own start-up."""
        await self.store.create_indexes()
        if isinstance(self.read_model, IndexedReadModel):
            # Nothing feeds the heads now: should they be chosen again, they must not
            # answer from what they held before.
            await forget_ready(self.store.db)
        await self.read_model.prepare()


def push_inbox(
    runtime: Runtime, settings: TimelineSettings, directory: MongoDirectory
) -> PushInbox:
    """The push endpoints' use case: Google's keys, the marks, the fetcher's topic."""
    audience = settings.push_google_audience or (settings.public_url.rstrip("/") + GMAIL_PUSH_PATH)
    return PushInbox(
        accounts=directory,
        marks=MongoPushMarks(runtime.db),
        publish=topic_publisher(runtime.broker, runtime.topics.sync_requests),
        tokens=GoogleSignedTokens(settings.push_google_certs_url, settings.oauth_ca_bundle),
        keys=push_keys(settings.secrets_key),
        google=GoogleAudience(audience, settings.push_google_service_account),
        window=timedelta(seconds=settings.push_coalesce_s),
    )


def build_services(runtime: Runtime, settings: TimelineSettings) -> Services:
    """The use cases wired to MongoDB, Kafka, the OAuth providers and the protocol checks."""
    store = TimelineStore(runtime.db)
    records = MongoRecords(runtime.db)
    owners = MongoAddressOwners(runtime.db)
    model = read_model(runtime, settings)
    topics = runtime.topics
    directory = MongoDirectory(runtime.db, topic_publisher(runtime.broker, topics.config))
    checks = ConnectionChecks(CheckPolicy(settings.allow_private_hosts, settings.connect_timeout_s))
    return Services(
        settings=settings,
        store=store,
        records=records,
        read_model=model,
        timelines=TimelineQueries(records, model.reader),
        writer=RecordWriter(records, owners, topic_publisher(runtime.broker, topics.records)),
        directory=directory,
        sync_queue=SyncQueue(topic_publisher(runtime.broker, topics.sync_requests)),
        connector=Connector(secret_box(settings), checks),
        consents=consents(settings),
        projection=Projection(MongoProjectionStore(store), records, owners, model.feed, directory),
        push_inbox=push_inbox(runtime, settings, directory),
    )
