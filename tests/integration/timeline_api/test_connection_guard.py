"""'Test the connection' never reaches the deployment's own network: every connection a
check makes goes to an address vetted at that moment, a CalDAV redirect's too."""

import os

import pytest
from pydantic import SecretStr

from crm_schemas.config import TlsMode
from tests.support.redirects import redirect_to_a_private_address
from timeline_api.adapters.connection_check import CheckPolicy, check_caldav, check_imap
from timeline_api.domain.connection import Failure

pytestmark = pytest.mark.integration

PASSWORD = SecretStr(os.environ.get("STACK_IMAP_TEST_PASSWORD", "test-password"))
IMAP_PORT = int(os.environ.get("STACK_IMAP_PORT", 10143))
TRUSTING_THE_STACK = CheckPolicy(
    allow_private=False, timeout_s=5, allowed_networks=("127.0.0.1/32",)
)


async def test_a_calendar_server_that_redirects_to_a_private_address_is_refused(
    unique: str,
) -> None:
    with redirect_to_a_private_address() as (url, reached):
        check = await check_caldav(url, f"c{unique}", PASSWORD, TRUSTING_THE_STACK)

    assert reached == []
    assert not check.ok
    assert check.failure is Failure.FORBIDDEN_HOST
    assert "127.0.0.2" in (check.detail or "")


async def test_a_trusted_network_is_reached_and_nothing_outside_it(unique: str) -> None:
    user = f"g-{unique}@acme.test"

    trusted = await check_imap(
        "127.0.0.1", IMAP_PORT, TlsMode.NONE, user, PASSWORD, (), TRUSTING_THE_STACK
    )
    other = await check_imap(
        "127.0.0.2", IMAP_PORT, TlsMode.NONE, user, PASSWORD, (), TRUSTING_THE_STACK
    )

    assert trusted.ok, trusted
    assert other.failure is Failure.FORBIDDEN_HOST
