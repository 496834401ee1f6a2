"""Fixtures of the provider tests: emulators on 127.0.0.1 and settings that point at them."""

import time

from crm_runtime.secrets import SecretBox
from crm_schemas.config import AccountConfigured, MailSettings, OAuthConnection, OAuthProvider

CLIENT_ID = "crm-test-client.apps.example"
CLIENT_SECRET = "test-client-secret"


def oauth_account(
    box: SecretBox,
    provider: OAuthProvider,
    address: str,
    refresh_token: str,
    mail: MailSettings | None = None,
) -> AccountConfigured:
    """An account as the timeline API publishes it after the OAuth callback."""
    return AccountConfigured(
        account_id=f"acc-{address}",
        workspace_id="ws-int",
        owner_member_id="member-1",
        email=address,
        oauth=OAuthConnection(
            provider=provider, refresh_token_encrypted=box.seal(refresh_token), subject=address
        ),
        mail=mail or MailSettings(),
    )


def external_mail(
    n: int, tag: str, to: str = "owner@acme.test", sender: str | None = None
) -> bytes:
    """A small external message with a Message-ID of its own."""
    frm = sender or f"Client {n} <client{n}@customer.io>"
    return (
        f"From: {frm}\nTo: {to}\nSubject: {tag} {n}\n"
        f"Message-ID: <{tag}-{n}-{time.time_ns()}@customer.io>\n"
        f"Date: Tue, 05 Mar 2024 10:{n % 60:02d}:00 +0100\n\nHello {n}\n"
    ).encode()


def graph_message(n: int, tag: str, sent: bool = False) -> dict[str, object]:
    """A Graph message resource's fields; sent items carry no transport headers."""
    message_id = f"<{tag}-{n}-{time.time_ns()}@customer.io>"
    owner = {"emailAddress": {"name": "Owner", "address": "owner@acme.test"}}
    client = {"emailAddress": {"name": f"Client {n}", "address": f"client{n}@customer.io"}}
    fields: dict[str, object] = {
        "internetMessageId": message_id,
        "subject": f"{tag} {n}",
        "from": owner if sent else client,
        "sender": owner if sent else client,
        "toRecipients": [client if sent else owner],
        "ccRecipients": [],
        "sentDateTime": f"2024-03-05T10:{n % 60:02d}:00Z",
        "receivedDateTime": f"2024-03-05T10:{n % 60:02d}:05Z",
        "hasAttachments": False,
        "body": {"contentType": "text", "content": f"Hello {n}"},
    }
    if not sent:
        fields["internetMessageHeaders"] = [
            {"name": "Message-ID", "value": message_id},
            {"name": "From", "value": f"Client {n} <client{n}@customer.io>"},
            {"name": "To", "value": "Owner <owner@acme.test>"},
            {"name": "Subject", "value": f"{tag} {n}"},
        ]
    return fields
