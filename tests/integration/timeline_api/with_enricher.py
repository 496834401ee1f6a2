"""The records' one writer and the records API together, in-process, on the real Kafka
and FerretDB of the local stack: the enricher (every consumer it runs in production) and
the timeline API (HTTP app and projection), on one test's own topics and databases; and
the matched mail and meetings the enricher reads."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from crm_schemas.base import Address
from crm_schemas.calendar import Attendee, MatchedEvent, RawEvent
from crm_schemas.ids import event_item_id, message_item_id, thread_id
from crm_schemas.mail import FolderRole, MatchedMessage, Participant, ParticipantRole, RawMessage
from crm_schemas.topics import Topics
from enricher.settings import EnricherSettings
from tests.e2e.harness import consumer_lag
from tests.integration.timeline_api.conftest import Timeline, eventually

OWNER = "owner@acme.test"
ACCOUNT = "acc-1"
T0 = datetime(2026, 4, 1, 9, tzinfo=UTC)
Json = dict[str, Any]


@dataclass
class Deployment:
    """Both services running, a client acting as an admin of one workspace, a producer
    for their input topics, and their databases."""

    workspace_id: str
    timeline: Timeline
    enricher: EnricherSettings

    @property
    def api(self) -> httpx.AsyncClient:
        return self.timeline.client

    @property
    def topics(self) -> Topics:
        return self.timeline.settings.topics

    @property
    def enricher_db(self) -> AsyncDatabase[Json]:
        return self.timeline.mongo[self.enricher.mongo_db]

    async def publish(self, topic: str, key: str, event: BaseModel) -> None:
        await self.timeline.publish(topic, key, event)

    async def person(self, email: str) -> Json | None:
        """The person the API answers for an address, if exactly one."""
        response = await self.api.get("/v1/people", params={"email": email})
        assert response.status_code == 200, response.text
        items: list[Json] = response.json()["items"]
        return items[0] if len(items) == 1 else None

    async def names(self, emails: list[str]) -> list[str | None]:
        """The name the API shows for each address (None: no person)."""
        found = [await self.person(e) for e in emails]
        return [p["name"] if p else None for p in found]

    async def owner_names(self, emails: list[str]) -> list[str | None]:
        """The name the enricher keeps for each address (None: no person)."""
        names: list[str | None] = []
        for email in emails:
            entry = await self.enricher_db.people_by_email.find_one(
                {"_id": f"{self.workspace_id}:{email}"}
            )
            doc = entry and await self.enricher_db.people.find_one({"_id": entry["record_id"]})
            names.append(doc["name"] if doc else None)
        return names

    async def quiet(self) -> None:
        """Until the enricher has handled every matched item, and the API's projection
        every record (whatever else is still on its way)."""
        settings, topics = self.timeline.settings, self.topics
        groups = {
            self.enricher.group("enricher"): [topics.mail_matched, topics.calendar_matched],
            settings.group("timeline-api.records"): [topics.records],
        }

        async def lag() -> int:
            bootstrap = settings.kafka_bootstrap
            return sum([await consumer_lag(bootstrap, g, t) for g, t in groups.items()])

        await eventually(lag, lambda n: n == 0, within=120)


def _participant(email: str, name: str | None, role: ParticipantRole) -> Participant:
    return Participant(email=email, name=name, roles=(role,), internal=False)


def meeting(ws: str, uid: str, attendees: list[str]) -> MatchedEvent:
    """A meeting of the owner's with these attendees, none of them with a name (no CN)."""
    raw = RawEvent(
        item_id=event_item_id(ws, uid, None),
        workspace_id=ws,
        account_id=ACCOUNT,
        provider="caldav",
        calendar="work",
        ical_uid=uid,
        title=f"Meeting {uid}",
        starts_at=T0,
        ends_at=T0 + timedelta(minutes=30),
        organizer=Address(email=OWNER),
        attendees=tuple(Attendee(email=e) for e in attendees),
    )
    owner = Participant(email=OWNER, roles=(ParticipantRole.ORGANIZER,), internal=True)
    people = (_participant(e, None, ParticipantRole.ATTENDEE) for e in attendees)
    return MatchedEvent(event=raw, participants=(owner, *people))


def mail(ws: str, mid: str, to: dict[str, str | None], *, sent: bool = True) -> MatchedMessage:
    """A message between the owner and ``to`` (address -> display name), sent by the
    owner (``sent``: it may create people under ``sent_only``) or received."""
    addresses = [Address(email=e, name=n) for e, n in to.items()]
    owner = Address(email=OWNER)
    raw = RawMessage.model_validate(
        {
            "item_id": message_item_id(ws, mid),
            "workspace_id": ws,
            "account_id": ACCOUNT,
            "provider": "imap",
            "provider_ref": f"INBOX/1/{mid}",
            "folder": "Sent" if sent else "INBOX",
            "folder_role": FolderRole.SENT if sent else FolderRole.INBOX,
            "message_id": mid,
            "subject": f"About {mid}",
            "sent_at": T0,
            "from": [owner] if sent else addresses[:1],
            "to": addresses if sent else [owner],
        }
    )
    me = Participant(
        email=OWNER,
        roles=(ParticipantRole.FROM if sent else ParticipantRole.TO,),
        internal=True,
    )
    role = ParticipantRole.TO if sent else ParticipantRole.FROM
    people = (_participant(e, n, role) for e, n in to.items())
    return MatchedMessage(
        message=raw, thread_id=thread_id(ws, mid), sent_by_owner=sent, participants=(me, *people)
    )
