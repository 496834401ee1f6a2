"""A sync job held by an outage of the CRM's own store says so in the account's status."""

from crm_runtime.outages import KAFKA, MONGODB
from crm_schemas.sync import SyncKind, SyncRequested, SyncState, SyncStatusChanged
from crm_schemas.topics import Topics
from fetcher.adapters.memory import RecordingPublisher
from fetcher.status import report_waiting

TOPICS = Topics("t")
REQUEST = SyncRequested(account_id="a1", workspace_id="w1", kind=SyncKind.MAIL, reason="manual")


async def test_a_job_waiting_for_the_database_shows_the_sync_as_paused() -> None:
    published = RecordingPublisher()
    await report_waiting(published, TOPICS, REQUEST, MONGODB)
    [status] = published.on(TOPICS.sync_status)
    assert isinstance(status, SyncStatusChanged)
    assert (status.account_id, status.kind, status.state) == (
        "a1",
        SyncKind.MAIL,
        SyncState.FAILING,
    )
    assert status.reason == "Syncing is paused: the CRM cannot reach its database right now"
    assert status.remedy == "Nothing to do: syncing resumes by itself when it is back"


async def test_nothing_is_said_while_kafka_itself_is_down() -> None:
    published = RecordingPublisher()
    await report_waiting(published, TOPICS, REQUEST, KAFKA)
    assert published.sent == []
