"""The calendar job against each real CalDAV server of the stack: Radicale and Xandikos."""

import uuid
from dataclasses import dataclass

import caldav
import pytest

from crm_runtime.secrets import SecretBox
from crm_schemas.config import AccountConfigured, CalDavConnection, CalendarSettings
from tests.integration.fetcher.conftest import (  # noqa: F401 - fixtures shared with the fetcher's tests
    calendar_ports,
    db,
    publisher,
    settings,
    topics,
)

SERVERS = ("radicale", "xandikos")


@dataclass
class CalendarOnServer:
    """A fresh calendar of its own on one server, and the account that syncs only it."""

    server: str
    url: str
    username: str
    password: str
    name: str

    def client(self) -> caldav.DAVClient:
        return caldav.DAVClient(url=self.url, username=self.username, password=self.password)

    def calendar(self, client: caldav.DAVClient) -> caldav.Calendar:
        found = [c for c in client.principal().calendars() if c.name == self.name]
        return found[0] if found else client.principal().make_calendar(name=self.name)

    def account(self, box: SecretBox) -> AccountConfigured:
        """The account as the timeline API would publish it, naming this calendar."""
        return AccountConfigured(
            account_id=f"acc-{self.server}-{self.name}",
            workspace_id="ws-int",
            owner_member_id="member-1",
            email="owner@acme.test",
            caldav=CalDavConnection(
                url=self.url, username=self.username, password_encrypted=box.seal(self.password)
            ),
            calendar=CalendarSettings(calendars=(self.name,)),
        )


@pytest.fixture(params=SERVERS)
def server_calendar(request: pytest.FixtureRequest, stack) -> CalendarOnServer:
    """A calendar on Radicale (a user of its own) or on single-user Xandikos (a calendar of
    its own, so that tests running at the same time never see each other's)."""
    token = uuid.uuid4().hex[:10]
    if request.param == "radicale":
        with open(stack.caldav_users_file, "a", encoding="utf-8") as users:
            users.write(f"cal{token}:pw-{token}\n")
        found = CalendarOnServer("radicale", stack.caldav_url, f"cal{token}", f"pw-{token}", "")
    else:
        found = CalendarOnServer("xandikos", stack.xandikos_url, "user", "unused", "")
    found.name = f"Work {token}"
    with found.client() as client:
        found.calendar(client)
    return found
