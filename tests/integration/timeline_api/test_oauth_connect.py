"""Connecting Google and Microsoft accounts by OAuth 2, against a local consent server."""

import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from crm_runtime.secrets import SecretBox
from tests.integration.timeline_api.conftest import Timeline
from tests.integration.timeline_api.consent_server import TENANT, ConsentServer, running
from timeline_api.settings import TimelineSettings

pytestmark = pytest.mark.integration
PUBLIC = "http://timeline"
CALLBACKS = {f"{PUBLIC}/v1/accounts/oauth/{p}/callback" for p in ("google", "microsoft")}


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[tuple[ConsentServer, Path]]:
    state = ConsentServer(client_id="crm-client", client_secret="s3cret", redirect_uris=CALLBACKS)
    with running(tmp_path, state) as found:
        yield found


@pytest.fixture
def settings(  # the API of these tests, registered with the consent server
    settings: TimelineSettings, provider: tuple[ConsentServer, Path]
) -> TimelineSettings:
    server, cert = provider
    return settings.model_copy(
        update={
            "public_url": PUBLIC,
            "google_client_id": "crm-client",
            "google_client_secret": SecretStr("s3cret"),
            "google_auth_uri": f"{server.base_url}/google/authorize",
            "google_token_uri": f"{server.base_url}/google/token",
            "microsoft_client_id": "crm-client",
            "microsoft_client_secret": SecretStr("s3cret"),
            "microsoft_authority": f"{server.base_url}/{TENANT}",
            "oauth_ca_bundle": str(cert),
        }
    )


async def _consent(timeline: Timeline, cert: Path, provider: str) -> dict[str, str]:
    """What the user's browser does: start, consent at the provider, come back."""
    started = await timeline.client.post(f"/v1/accounts/oauth/{provider}/start", json={})
    assert started.status_code == 200, started.text
    trusting = ssl.create_default_context(cafile=str(cert))
    async with httpx.AsyncClient(verify=trusting) as browser:
        consented = await browser.get(started.json()["consent_url"])
    assert consented.status_code == 302, consented.text
    back = urlsplit(consented.headers["location"])
    assert f"{PUBLIC}{back.path}" in CALLBACKS
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    assert query["state"] == started.json()["state"]
    return {"path": back.path, **query}


@pytest.mark.parametrize("provider_name", ["google", "microsoft"])
async def test_consent_connects_the_account_with_its_refresh_token_sealed(
    timeline: Timeline, unique: str, provider: tuple[ConsentServer, Path], provider_name: str
) -> None:
    server, cert = provider
    server.user = f"ann-{unique}@client.test"
    member = await timeline.login(f"ws-{unique}", "owner@us.test")
    back = await _consent(timeline, cert, provider_name)
    path = back.pop("path")

    connected = await timeline.client.get(path, params=back, headers={"Authorization": ""})
    replayed = await timeline.client.get(path, params=back)

    assert connected.status_code == 201, connected.text
    account = connected.json()
    assert (account["email"], account["provider"]) == (server.user, provider_name)
    assert account["owner_member_id"] == member.member_id
    assert [s["state"] for s in account["status"]] == ["pending", "pending"]
    assert "rt-" not in connected.text
    stored = await timeline.directory.account(account["id"])
    assert stored is not None
    assert stored.oauth is not None
    sealed = stored.oauth.refresh_token_encrypted
    opened = SecretBox(timeline.settings.secrets_key).open(sealed).get_secret_value()
    assert opened in server.refresh_tokens  # the token the provider issued, sealed at rest
    assert replayed.status_code == 400  # the state is single-use
    assert "start again" in replayed.json()["detail"]


async def test_a_refused_consent_or_a_forged_state_stores_nothing(
    timeline: Timeline, unique: str, provider: tuple[ConsentServer, Path]
) -> None:
    _, cert = provider
    ws = f"ws-{unique}"
    await timeline.login(ws, "owner@us.test")
    denied = await _consent(timeline, cert, "google")
    path = denied.pop("path")

    refused = await timeline.client.get(
        path, params={"state": denied["state"], "error": "access_denied"}
    )
    forged = await timeline.client.get(path, params={"state": "made-up", "code": "x"})
    stolen = await _consent(timeline, cert, "google")
    stolen.pop("path")
    bad_code = await timeline.client.get(path, params={**stolen, "code": "not-the-code"})

    assert refused.status_code == 400
    assert "consent was not given" in refused.json()["detail"]
    assert forged.status_code == 400
    assert bad_code.status_code == 400
    assert "Google refused the consent code" in bad_code.json()["detail"]
    assert await timeline.directory.workspace_accounts(ws) == []
