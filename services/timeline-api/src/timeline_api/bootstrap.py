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
from timeline_api.adapters.dead_letters import MongoDeadLetters
from timeline_api.adapters.directory import MongoDirectory
from timeline_api.adapters.kafka import keyed_publisher, raw_publisher, topic_publisher
from timeline_api.adapters.mailbox_lookups import MongoMailboxLookups
from timeline_api.adapters.oauth import consents
from timeline_api.adapters.projection_store import MongoProjectionStore
from timeline_api.adapters.push_marks import MongoPushMarks
from timeline_api.adapters.push_tokens import GoogleSignedTokens
from timeline_api.adapters.record_owner import KafkaRecordOwner
from timeline_api.adapters.records import MongoRecords
from timeline_api.adapters.replay_jobs import MongoReplayJobs
from timeline_api.adapters.replay_log import KafkaReplayLog
from timeline_api.adapters.timeline_store import TimelineStore
from timeline_api.adapters.timelines.heads import HeadsReadModel
from timeline_api.adapters.timelines.heads.mongo import forget_ready
from timeline_api.adapters.timelines.indexed import IndexedReadModel
from timeline_api.adapters.web_sessions import MongoSignIns
from timeline_api.domain.push import GoogleAudience
from timeline_api.ports.accounts import Consent
from timeline_api.service.account_actions import AccountActions
from timeline_api.service.accounts import Connector, SyncQueue
from timeline_api.service.dead_letters import DeadLetterDesk, DeadLetterProjection
from timeline_api.service.lookups import LookupAnswers, MailboxSearch
from timeline_api.service.projection import Projection
from timeline_api.service.push import PushInbox
from timeline_api.service.records import RecordWriter
from timeline_api.service.replay import Replays
from timeline_api.service.search import RecordSearch
from timeline_api.service.sign_in import SignIn
from timeline_api.service.thread_merges import MailProjection
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
    record_owner: KafkaRecordOwner
    directory: MongoDirectory
    sync_queue: SyncQueue
    connector: Connector
    consents: dict[OAuthProvider, Consent]
    projection: Projection
    replays: Replays
    search: RecordSearch
    account_actions: AccountActions
    sign_in: SignIn
    mail: MailProjection
    dead_letter_store: MongoDeadLetters
    dead_letters: DeadLetterDesk
    dead_letter_projection: DeadLetterProjection
    mailbox_search: MailboxSearch
    lookup_answers: LookupAnswers
    push_inbox: PushInbox

    async def prepare(self) -> None:
        """What must exist before the first request or event: the read model's indexes,
        and the read model's own start-up."""
        await self.store.create_indexes()
        await self.records.index_search_terms()
        await self.dead_letter_store.create_indexes()
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
    model = read_model(runtime, settings)
    topics = runtime.topics
    owner = KafkaRecordOwner(
        settings.kafka_bootstrap,
        topics.record_outcomes,
        topic_publisher(runtime.broker, topics.record_commands),
        settings.records_wait_s,
    )
    opportunities = topic_publisher(runtime.broker, topics.records)
    directory = MongoDirectory(runtime.db, topic_publisher(runtime.broker, topics.config))
    letters = MongoDeadLetters(runtime.db)
    writes = MongoProjectionStore(store)
    projection = Projection(writes, records, model.feed, directory)
    onwards = keyed_publisher(runtime.bulk, topics.timeline_messages)
    lookups = MongoMailboxLookups(runtime.db)
    ask = topic_publisher(runtime.broker, topics.lookup_requests)
    waited = timedelta(seconds=settings.lookup_timeout_s)
    checks = ConnectionChecks(
        CheckPolicy(
            settings.allow_private_hosts,
            settings.connect_timeout_s,
            settings.allowed_private_networks,
        )
    )
    connector = Connector(secret_box(settings), checks)
    sync_queue = SyncQueue(topic_publisher(runtime.broker, topics.sync_requests))
    replays = replay_jobs(runtime, settings)
    return Services(
        settings=settings,
        store=store,
        records=records,
        read_model=model,
        timelines=TimelineQueries(records, model.reader),
        writer=RecordWriter(records, owner, opportunities, settings.records_wait_s),
        record_owner=owner,
        directory=directory,
        sync_queue=sync_queue,
        connector=connector,
        consents=consents(settings),
        projection=projection,
        mail=MailProjection(projection, writes, model.feed, onwards),
        replays=replays,
        dead_letter_store=letters,
        dead_letters=DeadLetterDesk(letters, raw_publisher(runtime.broker), topics.all()),
        dead_letter_projection=DeadLetterProjection(letters),
        mailbox_search=MailboxSearch(lookups, directory, ask, waited),
        lookup_answers=LookupAnswers(lookups),
        search=RecordSearch(records),
        account_actions=AccountActions(directory, connector, sync_queue, replays),
        sign_in=sign_in(runtime, settings, directory),
        push_inbox=push_inbox(runtime, settings, directory),
    )


def replay_jobs(runtime: Runtime, settings: TimelineSettings) -> Replays:
    """Replay jobs over Kafka and the API's database; asked for on the jobs topic."""
    return Replays(
        KafkaReplayLog(settings),
        MongoReplayJobs(runtime.db),
        topic_publisher(runtime.broker, runtime.topics.replay_jobs),
        settings.replay_slice_s,
    )


def sign_in(runtime: Runtime, settings: TimelineSettings, directory: MongoDirectory) -> SignIn:
    """Sign-in links and web sessions, with the deployment's lifetimes."""
    return SignIn(
        MongoSignIns(runtime.db),
        directory,
        link_ttl=timedelta(minutes=settings.sign_in_link_minutes),
        session_ttl=timedelta(hours=settings.web_session_hours),
    )
