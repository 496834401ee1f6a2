"""The web app without servers: signing in, sessions, CSRF, pages over stand-in ports."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
from cryptography.fernet import Fernet
from pydantic import BaseModel, SecretStr

from crm_runtime.secrets import SecretBox
from crm_schemas.config import AccountConfigured, CalDavConnection, OAuthProvider
from crm_schemas.mail import Participant, ParticipantRole
from crm_schemas.records import PersonUpserted
from timeline_api.adapters.mailbox_lookups import InMemoryMailboxLookups
from timeline_api.adapters.memory import InMemoryRecords, InMemorySignIns
from timeline_api.adapters.replay_memory import InMemoryReplayJobs, InMemoryReplayLog
from timeline_api.adapters.timelines.memory import InMemoryTimelines
from timeline_api.domain.access import Member, Role
from timeline_api.domain.connection import Check, Failure, failed, passed
from timeline_api.domain.model import Source, StoredMessage
from timeline_api.entrypoints.http import create_app
from timeline_api.ports.accounts import Directory
from timeline_api.service.account_actions import AccountActions
from timeline_api.service.accounts import Connector, SyncQueue
from timeline_api.service.lookups import MailboxSearch
from timeline_api.service.records import RecordWriter
from timeline_api.service.replay import Replays
from timeline_api.service.search import RecordSearch
from timeline_api.service.sign_in import SignIn
from timeline_api.service.timelines import TimelineQueries
from timeline_api.settings import TimelineSettings

ANN = Member("m-ann", "ws1", "ann@acme.test", "Ann", Role.MEMBER)
BOB = Member("m-bob", "ws1", "bob@acme.test", "Bob", Role.MEMBER)
EVE = Member("m-eve", "ws2", "eve@other.test", "Eve", Role.ADMIN)


class Members:
    """A directory of three members and no account."""

    async def member(self, member_id: str) -> Member | None:
        return {m.member_id: m for m in (ANN, BOB, EVE)}.get(member_id)

    async def workspace_accounts(self, workspace_id: str) -> list[Any]:
        return []


async def _unused(key: str, event: BaseModel) -> None:
    raise AssertionError("no mailbox is asked: the members here have none")


class World:
    def __init__(self) -> None:
        self.records = InMemoryRecords()
        self.timelines = InMemoryTimelines(self.records)
        self.sign_in = SignIn(InMemorySignIns(), cast(Directory, Members()))
        app = create_app(TimelineSettings())  # the lifespan is not run: nothing connects
        state = app.state
        state.settings = TimelineSettings()
        state.records = self.records
        state.conversations = self.timelines
        state.timelines = TimelineQueries(self.records, self.timelines)
        state.directory = Members()
        state.search = RecordSearch(self.records)
        state.writer = RecordWriter(self.records, cast(Any, None), cast(Any, None))
        state.account_actions = AccountActions(
            cast(Directory, Members()),
            cast(Connector, None),
            cast(SyncQueue, None),
            cast(Replays, None),
        )
        state.sign_in = self.sign_in
        state.consents = {}
        state.mailbox_search = MailboxSearch(
            InMemoryMailboxLookups(), cast(Directory, Members()), _unused, timedelta(seconds=1)
        )
        self.app = app

    def client(self) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://t")

    async def signed_in(self, client: httpx.AsyncClient, member: Member) -> str:
        """Sign the client in through a link, as a person would; the page's CSRF token."""
        token = await self.sign_in.issue_link(member)
        form = await client.get(f"/app/sign-in/{token}")
        csrf = _csrf(form.text)
        done = await client.post(f"/app/sign-in/{token}", data={"csrf": csrf})
        assert done.status_code == 303
        return _csrf((await client.get("/app/")).text)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


async def test_a_page_without_a_session_sends_to_sign_in() -> None:
    async with World().client() as client:
        response = await client.get("/app/accounts")

    assert response.status_code == 303
    assert response.headers["location"] == "/app/sign-in"


async def test_a_sign_in_link_opens_an_http_only_same_site_session_once() -> None:
    world = World()
    token = await world.sign_in.issue_link(ANN)
    async with world.client() as client:
        form = await client.get(f"/app/sign-in/{token}")
        done = await client.post(f"/app/sign-in/{token}", data={"csrf": _csrf(form.text)})
        home = await client.get("/app/")
        form = await client.get(f"/app/sign-in/{token}")
        again = await client.post(f"/app/sign-in/{token}", data={"csrf": _csrf(form.text)})

    cookie = done.headers["set-cookie"]
    assert "crm_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert home.status_code == 200
    assert "Ann" in home.text
    assert again.status_code == 400
    assert "used already" in again.text


async def test_opening_a_link_does_not_spend_it_and_a_foreign_form_cannot() -> None:
    world = World()
    token = await world.sign_in.issue_link(ANN)
    async with world.client() as client:
        await client.get(f"/app/sign-in/{token}")  # a prefetch or a mail scanner
        forged = await client.post(f"/app/sign-in/{token}", data={"csrf": "guessed"})
        form = await client.get(f"/app/sign-in/{token}")
        real = await client.post(f"/app/sign-in/{token}", data={"csrf": _csrf(form.text)})

    assert forged.status_code == 403
    assert real.status_code == 303


async def test_a_form_without_the_sessions_token_is_refused_and_signing_out_ends_it() -> None:
    world = World()
    async with world.client() as client:
        csrf = await world.signed_in(client, ANN)
        refused = await client.post("/app/sign-out", data={"csrf": "not-it"})
        still_in = await client.get("/app/")
        out = await client.post("/app/sign-out", data={"csrf": csrf})
        client.cookies.clear()
    assert refused.status_code == 403
    assert still_in.status_code == 200
    assert out.status_code == 303
    assert world.sign_in is not None
    assert not cast(InMemorySignIns, world.sign_in._sign_ins).sessions


async def test_an_expired_session_signs_nobody_in() -> None:
    world = World()
    world.sign_in = SignIn(InMemorySignIns(), cast(Directory, Members()), session_ttl=timedelta(0))
    world.app.state.sign_in = world.sign_in
    async with world.client() as client:
        token = await world.sign_in.issue_link(ANN)
        form = await client.get(f"/app/sign-in/{token}")
        await client.post(f"/app/sign-in/{token}", data={"csrf": _csrf(form.text)})
        response = await client.get("/app/")

    assert response.status_code == 303


def _message(owner: str, visibility: str) -> StoredMessage:
    jane = Participant(
        email="jane@client.test", name="Jane", roles=(ParticipantRole.FROM,), internal=False
    )
    return StoredMessage(
        item_id="i1",
        workspace_id="ws1",
        thread_id="t1",
        message_id="m1@client.test",
        subject="Secret pricing",
        sent_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
        participants=(jane,),
        participant_emails=("jane@client.test",),
        body_text="The numbers.",
        sources=(Source(account_id="a1", visibility=visibility, owner_member_id=owner),),
    )


async def test_a_teammate_sees_no_subject_of_a_metadata_mailbox_and_the_owner_sees_all() -> None:
    world = World()
    await world.timelines.store_messages([_message(owner=ANN.member_id, visibility="metadata")])
    async with world.client() as ann, world.client() as bob:
        await world.signed_in(ann, ANN)
        await world.signed_in(bob, BOB)
        owner_view = await ann.get("/app/threads/t1")
        teammate_view = await bob.get("/app/threads/t1")

    assert "Secret pricing" in owner_view.text
    assert "The numbers." in owner_view.text
    assert teammate_view.status_code == 200
    assert "Secret pricing" not in teammate_view.text
    assert "The numbers." not in teammate_view.text
    assert "jane@client.test" in teammate_view.text


async def test_another_workspace_sees_nothing_by_direct_url() -> None:
    world = World()
    await world.timelines.store_messages([_message(owner=ANN.member_id, visibility="full")])
    jane = PersonUpserted(
        person_id="p1", workspace_id="ws1", name="Jane Doe", emails=("jane@client.test",)
    )
    await world.records.upsert_person(jane)
    async with world.client() as eve:
        await world.signed_in(eve, EVE)
        pages = [
            await eve.get(u)
            for u in ("/app/threads/t1", "/app/people/p1", "/app/people/p1?tab=calendar")
        ]
        found = await eve.get("/app/search", params={"q": "jane"})

    assert [p.status_code for p in pages] == [404, 404, 404]
    assert all("Secret pricing" not in p.text and "Jane Doe" not in p.text for p in pages)
    assert "Jane Doe" not in found.text


async def test_search_finds_a_person_by_part_of_the_name_or_the_domain() -> None:
    world = World()
    jane = PersonUpserted(
        person_id="p1", workspace_id="ws1", name="Jane Doe", emails=("jane@client.test",)
    )
    await world.records.upsert_person(jane)
    async with world.client() as ann:
        await world.signed_in(ann, ANN)
        by_name = await ann.get("/app/search", params={"q": "do ja"})
        by_domain = await ann.get("/app/search", params={"q": "client.test"})
        person = await ann.get("/app/people/p1")

    assert 'href="/app/people/p1"' in by_name.text
    assert 'href="/app/people/p1"' in by_domain.text
    assert person.status_code == 200
    assert "Secret" not in person.text


async def test_static_files_carry_their_hash_and_are_cached_for_a_year() -> None:
    async with World().client() as client:
        page = await client.get("/app/sign-in")
        css = re.search(r'href="(/app/static/[0-9a-f]{12}/app\.css)"', page.text)
        assert css is not None
        response = await client.get(css.group(1))
        stale = await client.get("/app/static/000000000000/app.css")

    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-type"].startswith("text/css")
    assert stale.headers["cache-control"] == "no-cache"
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


class RefusingChecks:
    """A mail server that refuses the password; a CalDAV server that answers."""

    async def imap(self, host: str, *args: Any) -> Check:
        return failed("IMAP", Failure.AUTH, host)

    async def smtp(self, host: str, *args: Any) -> Check:
        return passed("SMTP", "Logged in")

    async def caldav(self, url: str, *args: Any) -> Check:
        return passed("CalDAV", "Found 1 calendars")


class Saving(Members):
    """The directory, remembering consents in flight and accounts saved (the last one
    saved is the account it has)."""

    def __init__(self, account: Any = None) -> None:
        self.states: dict[str, dict[str, Any]] = {}
        self.saved: list[Any] = []
        self.kept = account

    async def save_oauth_state(self, state: str, doc: dict[str, Any]) -> None:
        self.states[state] = doc

    async def account(self, account_id: str) -> Any:
        return self.kept if self.kept and self.kept.account_id == account_id else None

    async def save_account(self, event: Any) -> None:
        self.saved.append(event)
        self.kept = event

    async def statuses(self, account_id: str) -> dict[str, Any]:
        return {}


class GoogleConsent:
    provider = OAuthProvider.GOOGLE

    def consent(self, state: str, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        return f"https://consent.test/?state={state}&redirect_uri={redirect_uri}", {"pkce": "v"}


async def _queued(key: str, event: BaseModel) -> None:
    """Replay jobs are queued nowhere here: the page only shows the job asked for."""


def _with_accounts(world: World, directory: Saving, log: Any = None) -> InMemoryReplayJobs:
    box = SecretBox(SecretStr(Fernet.generate_key().decode()))
    connector = Connector(box, cast(Any, RefusingChecks()))
    jobs = InMemoryReplayJobs()
    replays = Replays(log or InMemoryReplayLog(), jobs, _queued)
    world.app.state.directory = directory
    world.app.state.account_actions = AccountActions(
        cast(Directory, directory), connector, cast(SyncQueue, None), replays
    )
    return jobs


async def test_a_failed_connection_test_says_which_protocol_and_saves_nothing() -> None:
    world, directory = World(), Saving()
    _with_accounts(world, directory)
    form = {
        "email": "ann@acme.test",
        "password": "wrong",
        "imap_host": "imap.acme.test",
        "imap_port": "993",
        "caldav_url": "https://dav.acme.test/",
    }
    async with world.client() as ann:
        csrf = await world.signed_in(ann, ANN)
        tested = await ann.post("/app/accounts/connect/test", data={**form, "csrf": csrf})
        connected = await ann.post("/app/accounts/connect", data={**form, "csrf": csrf})

    assert "IMAP: failed." in tested.text
    assert "refused the user name or password" in tested.text
    assert "CalDAV: works." in tested.text
    assert connected.status_code == 422
    assert "Nothing was saved" in connected.text
    assert directory.saved == []


async def test_the_google_button_shows_when_configured_and_comes_back_to_the_accounts() -> None:
    world, directory = World(), Saving()
    _with_accounts(world, directory)
    world.app.state.consents = {OAuthProvider.GOOGLE: GoogleConsent()}
    async with world.client() as ann:
        csrf = await world.signed_in(ann, ANN)
        page = await ann.get("/app/accounts")
        started = await ann.post("/app/accounts/oauth/google", data={"csrf": csrf})
        unknown = await ann.post("/app/accounts/oauth/microsoft", data={"csrf": csrf})

    assert "Connect a Google account" in page.text
    assert "Microsoft" not in page.text
    assert started.status_code == 303
    assert started.headers["location"].startswith("https://consent.test/")
    [remembered] = directory.states.values()
    assert remembered["member_id"] == ANN.member_id
    assert remembered["return_to"] == "/app/accounts?notice=connected"
    assert unknown.status_code == 404


def _calendar_of_ann() -> Any:
    return AccountConfigured(
        account_id="acc-ann",
        workspace_id=ANN.workspace_id,
        owner_member_id=ANN.member_id,
        email=ANN.email,
        caldav=CalDavConnection(
            url="https://dav.acme.test/", username="ann", password_encrypted="x"
        ),
    )


async def test_settings_saved_for_what_comes_next_leave_the_timelines_as_they_are() -> None:
    world, directory = World(), Saving(_calendar_of_ann())
    jobs = _with_accounts(world, directory)
    async with world.client() as ann:
        csrf = await world.signed_in(ann, ANN)
        form = await ann.get("/app/accounts/acc-ann/settings")
        saved = await ann.post(
            "/app/accounts/acc-ann/settings",
            data={"csrf": csrf, "calendar_visibility": "metadata"},
            follow_redirects=True,
        )

    assert 'name="apply_to_history"' in form.text
    assert "what is already on the timelines stays as it is" in saved.text
    assert directory.kept.calendar.visibility.value == "metadata"
    assert jobs.stored == {}


async def test_settings_applied_to_history_queue_a_replay_of_the_account_and_say_so() -> None:
    world, directory = World(), Saving(_calendar_of_ann())
    jobs = _with_accounts(world, directory)
    async with world.client() as ann:
        csrf = await world.signed_in(ann, ANN)
        saved = await ann.post(
            "/app/accounts/acc-ann/settings",
            data={"csrf": csrf, "calendar_visibility": "metadata", "apply_to_history": "yes"},
            follow_redirects=True,
        )

    [job] = jobs.stored.values()
    assert (job.scope_workspace_id, job.scope_account_id, job.kinds) == (
        ANN.workspace_id,
        "acc-ann",
        ("calendar",),
    )
    assert f"being reprocessed under it (replay job {job.job_id})" in saved.text
    assert directory.kept.calendar.visibility.value == "metadata"


async def test_settings_applied_to_a_history_no_longer_held_save_nothing() -> None:
    world, directory = World(), Saving(_calendar_of_ann())
    log = InMemoryReplayLog()
    log.raw["calendar"].policy = "delete"
    log.raw["calendar"].append(0, datetime(2026, 1, 1, tzinfo=UTC), b"k", b"{}")
    log.raw["calendar"].drop_before(0, 1)  # retention took the calendar's first record
    _with_accounts(world, directory, log)
    async with world.client() as ann:
        csrf = await world.signed_in(ann, ANN)
        refused = await ann.post(
            "/app/accounts/acc-ann/settings",
            data={"csrf": csrf, "calendar_visibility": "metadata", "apply_to_history": "yes"},
        )

    assert refused.status_code == 409
    assert "Nothing was saved" in refused.text
    assert directory.saved == []
