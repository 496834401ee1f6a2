"""The web app in a real browser, on the whole system: a member signs in, connects a
mailbox and calendar on the local stack, watches the import finish, reads a person's and
a company's timelines and a thread, changes a setting, disconnects; a teammate sees what
the mailbox's visibility allows; another workspace sees nothing, direct URLs included."""

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import seed
from localsystem import LocalSystem
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.conftest import Camera
from tests.e2e.harness import timeline_settings
from tests.e2e.test_pipeline import seed_mailbox

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

CLIENT = "jane.doe@client-{u}.test"


def seed_mailbox_and_calendar(stack: Any, mailbox: str, client: str, colleague: str) -> None:
    """A thread with the client (sent and a reply), an internal message (the pipeline
    test's), a meeting to come and one past."""
    seed_mailbox(stack, mailbox, client, colleague)
    password = stack.imap_test_password
    seed.ensure_caldav_user(Path(stack.caldav_users_file), mailbox, password)
    now = datetime.now(UTC).replace(microsecond=0)
    start, before = now + timedelta(days=2), now - timedelta(days=3)
    events = [
        seed.build_event(
            uid=f"kickoff-{mailbox}",
            summary="Kick-off with Client",
            start=start,
            end=start + timedelta(hours=1),
            organizer=mailbox,
            attendees=[client],
        ),
        seed.build_event(
            uid=f"review-{mailbox}",
            summary="Last quarter's review",
            start=before,
            end=before + timedelta(minutes=30),
            organizer=mailbox,
            attendees=[client],
        ),
    ]
    seed.put_events(stack.caldav_url, mailbox, password, "work", events)


async def signed_in(
    browser: Browser, link: str, *, javascript: bool = True
) -> tuple[BrowserContext, Page]:
    """A fresh browser profile signed in through a one-time link, as a person would."""
    context = await browser.new_context(
        bypass_csp=True, java_script_enabled=javascript
    )  # axe is injected
    page = await context.new_page()
    await page.goto(link)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Records")).to_be_visible()
    return context, page


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 90) -> None:
    """Poll a page until ``check`` holds (reloading is the check's business)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {within:.0f} s: {what}")
        await asyncio.sleep(1)


async def test_a_member_connects_reads_changes_and_disconnects_in_a_browser(
    system: LocalSystem, stack: Any, unique: str, browser: Browser, camera: Camera
) -> None:
    from timeline_api.entrypoints.admin import add_member, bootstrap, sign_in_link

    mailbox, teammate = f"w{unique}@acme.test", f"bob{unique}@acme.test"
    client = CLIENT.format(u=unique)
    system.start_all()
    seed_mailbox_and_calendar(stack, mailbox, client, teammate)
    settings = timeline_settings(system)
    settings = settings.model_copy(update={"public_url": system.api_url})
    made = await bootstrap(settings, "Acme", ["acme.test"], admin_email=mailbox, admin_name="Alice")
    ws = made["workspace_id"]
    await add_member(settings, ws, teammate, "Bob")
    other = await bootstrap(
        settings, f"Other {unique}", [f"other{unique}.test"], f"eve@other{unique}.test"
    )
    system.wait_for_api()

    owner, page = await signed_in(browser, await sign_in_link(settings, ws, mailbox))
    await camera.shoot(page, "records-search-empty")

    # --- connect, test first -----------------------------------------------------------
    await page.get_by_role("link", name="Accounts", exact=True).click()
    await expect(page.get_by_text("No mailbox or calendar is connected yet.")).to_be_visible()
    await camera.shoot(page, "accounts-empty")
    await page.get_by_role("link", name="Connect a mailbox or calendar").click()
    await page.get_by_label("Email address").fill(mailbox)
    await page.get_by_label("Password").fill(stack.imap_test_password)
    await page.get_by_label("IMAP server").fill(stack.imap_host)
    await page.get_by_label("Port").first.fill(str(stack.imap_port))
    await page.get_by_label("Security").first.select_option("none")
    await page.get_by_label("CalDAV address").fill(stack.caldav_url)
    await page.get_by_role("button", name="Test the connection").click()
    await expect(page.locator("[data-protocol=IMAP]")).to_contain_text("IMAP: works")
    await expect(page.locator("[data-protocol=CalDAV]")).to_contain_text("CalDAV: works")
    await camera.shoot(page, "connect-tested")
    await page.get_by_role("button", name="Connect", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("The first import has started")

    # --- the import reaches "up to date" (the list refreshes itself) ---------------------
    for kind in ("mail", "calendar"):
        done = page.locator(f"[data-kind={kind}][data-state=up_to_date]")
        await expect(done).to_be_visible(timeout=90_000)
    await expect(page.locator("[data-kind=mail]")).to_contain_text("Up to date")
    await camera.shoot(page, "accounts-up-to-date")

    # --- a person, their tabs, a thread, a meeting, their company -----------------------
    await page.get_by_role("link", name="Records", exact=True).click()
    await page.get_by_label(re.compile("Find people")).fill("jane")
    await page.get_by_role("button", name="Search").click()
    await camera.shoot(page, "records-search-results")
    await page.get_by_role("link", name="Jane Doe").click()
    await expect(page.get_by_role("heading", name="Jane Doe")).to_be_visible()
    thread_link = page.get_by_role("link", name="Proposal for Q1")
    await expect(thread_link).to_be_visible()
    await expect(page.locator(".thread").first).to_contain_text("2 messages")
    await camera.shoot(page, "person-emails")
    person_url = page.url
    await page.get_by_role("link", name="Calendar").click()
    await expect(page.get_by_role("link", name="Kick-off with Client")).to_be_visible()
    await expect(page.get_by_role("link", name="Last quarter's review")).to_be_visible()
    await camera.shoot(page, "person-calendar")
    await page.get_by_role("link", name="Kick-off with Client").click()
    await expect(page.get_by_role("heading", name="Kick-off with Client")).to_be_visible()
    await expect(page.get_by_text("1 h")).to_be_visible()
    await camera.shoot(page, "meeting")
    meeting_url = page.url
    await page.goto(person_url)
    await page.get_by_role("link", name="Proposal for Q1").click()
    await expect(page.get_by_role("article")).to_have_count(2)
    await expect(page.get_by_role("article").nth(1)).to_contain_text("Re: Proposal for Q1")
    await expect(page.get_by_role("article").nth(1)).to_contain_text("Doe, Jane")
    await camera.shoot(page, "thread")
    thread_url = page.url
    await page.goto(person_url)
    await page.get_by_role("link", name=re.compile("client", re.IGNORECASE)).first.click()
    await expect(page.get_by_text("Company", exact=True)).to_be_visible()
    await expect(page.get_by_role("link", name="Proposal for Q1")).to_be_visible()
    await camera.shoot(page, "company-emails")
    company_url = page.url

    # --- why isn't this email here? ----------------------------------------------------
    await page.get_by_role("link", name="Why isn't this email here?").click()
    await page.get_by_label(re.compile("Message-ID")).fill(
        f"Subject: Lunch?\nMessage-ID: <lunch-{mailbox}>\nFrom: {teammate}"
    )
    await page.get_by_role("button", name="Explain").click()
    await expect(page.get_by_role("heading", name="It was left out on purpose")).to_be_visible()
    await expect(page.get_by_text("every participant is in your organisation")).to_be_visible()
    await camera.shoot(page, "explain")

    # --- a setting: teammates see only who wrote to whom, from now on --------------------
    await page.get_by_role("link", name="Accounts", exact=True).click()
    await page.get_by_role("link", name=re.compile("^Settings")).click()
    await expect(page.get_by_role("row", name=re.compile("INBOX"))).to_be_visible()
    await camera.shoot(page, "account-settings")
    await page.get_by_label("Sender, recipients, date and time only").check()
    await page.get_by_role("button", name="Save settings").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "applies to mail and meetings synced from now on"
    )
    settings_url = page.url.split("?")[0]
    secret = seed.build_message(
        message_id=f"terms-{mailbox}",
        sender=f"Jane Doe <{client}>",
        to=[mailbox],
        subject="Confidential terms",
        body="Our confidential terms.",
        sent_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    seed.append_messages(
        stack.imap_host, stack.imap_port, mailbox, stack.imap_test_password, "INBOX", [secret]
    )
    await page.get_by_role("link", name="Accounts", exact=True).click()
    await page.get_by_role("button", name=re.compile("^Sync now")).click()
    await expect(page.get_by_role("status")).to_contain_text("Sync requested")

    async def owner_sees_it() -> bool:
        await page.goto(person_url)
        return await page.get_by_role("link", name="Confidential terms").count() > 0

    await until(owner_sees_it, "the new thread on the owner's person page")

    # --- the teammate (reading without JavaScript) sees no subject of what came after ----
    link = await sign_in_link(settings, ws, teammate)
    team, bob = await signed_in(browser, link, javascript=False)
    checker = await browser.new_context(bypass_csp=True)  # the same session, for axe
    await checker.add_cookies(await team.cookies())
    bob_checked = await checker.new_page()
    await bob.goto(person_url)
    await expect(bob.get_by_role("link", name="Proposal for Q1")).to_be_visible()
    await expect(bob.get_by_text("Subject not shared")).to_be_visible()
    assert "Confidential terms" not in await bob.content()
    await camera.shoot(bob, "person-emails-as-teammate", axe_page=bob_checked)
    await bob.get_by_text("Subject not shared").click()
    await expect(bob.get_by_text("subject not shared")).to_be_visible()
    assert "Confidential" not in await bob.content()
    await camera.shoot(bob, "thread-as-teammate", axe_page=bob_checked)
    await team.close()
    await checker.close()

    # --- another workspace sees nothing of this one ------------------------------------
    outsider, eve = await signed_in(
        browser, await sign_in_link(settings, other["workspace_id"], f"eve@other{unique}.test")
    )
    for url in (
        person_url,
        company_url,
        thread_url,
        meeting_url,
        settings_url,
        settings_url.replace("/settings", "/disconnect"),
    ):
        response = await eve.goto(url)
        assert response is not None
        assert response.status == 404, url
        text = await eve.content()
        for secret_text in ("Jane", "Proposal", mailbox):
            assert secret_text not in text, url
    await camera.shoot(eve, "not-found-for-another-workspace")
    await eve.goto(f"{system.api_url}/app/search?q=jane")
    await expect(eve.get_by_text("Nothing found")).to_be_visible()
    await eve.goto(f"{system.api_url}/app/accounts")
    assert mailbox not in await eve.content()
    await outsider.close()

    # --- disconnect, after the confirmation says what leaves ------------------------------
    await page.get_by_role("link", name="Accounts", exact=True).click()
    await page.get_by_role("link", name=re.compile("^Disconnect")).click()
    await expect(page.get_by_text("leaves the timelines")).to_be_visible()
    await camera.shoot(page, "disconnect-confirm")
    await page.get_by_role("button", name=re.compile("^Disconnect")).click()
    await expect(page.get_by_role("status")).to_contain_text("Disconnected")
    await expect(page.get_by_text("No mailbox or calendar is connected yet.")).to_be_visible()

    async def timeline_emptied() -> bool:
        await page.goto(person_url)
        return await page.get_by_text("No email with Jane Doe yet.").count() > 0

    await until(timeline_emptied, "the disconnected account's threads leaving the timeline")
    await camera.shoot(page, "person-after-disconnect")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    await page.goto(person_url)
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await owner.close()
