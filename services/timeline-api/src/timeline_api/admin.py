"""``crm-admin``: create workspaces and connect accounts from the command line.

The timeline API owns workspaces and accounts: each command stores the record in the
API's own database and publishes it on the config topic for every other service. Ids are
deterministic, so running a command twice updates the same record. Passwords are read
from an environment variable named on the command line, sealed at once, and never
printed or logged.
"""

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Sequence

from pydantic import SecretStr

from crm_runtime.bus import ensure_topics, publish
from crm_runtime.secrets import SecretBox
from crm_runtime.service import TOPIC_PARTITIONS, build_runtime
from crm_schemas.config import (
    AccountConfigured,
    CalDavConnection,
    CalendarSettings,
    CalendarVisibility,
    ContactCreation,
    ImapConnection,
    MailSettings,
    MailVisibility,
    TlsMode,
    WorkspaceConfigured,
)
from crm_schemas.ids import normalize_email
from timeline_api.settings import TimelineSettings

_NAMESPACE = uuid.UUID("0b5d7c1e-9a43-4f6e-8f0a-2c7e5d1b3a96")


class AdminError(Exception):
    """A command cannot be done as asked; the message says why."""


def workspace_id_for(name: str) -> str:
    """The id a workspace gets from its name when none is given."""
    return str(uuid.uuid5(_NAMESPACE, f"workspace\x1f{name.strip().lower()}"))


def account_id_for(workspace_id: str, email: str) -> str:
    """The id an account gets from its workspace and address when none is given."""
    return str(uuid.uuid5(_NAMESPACE, f"account\x1f{workspace_id}\x1f{normalize_email(email)}"))


def member_id_for(workspace_id: str, email: str) -> str:
    """The member owning a mailbox, until members are their own records."""
    return str(uuid.uuid5(_NAMESPACE, f"member\x1f{workspace_id}\x1f{normalize_email(email)}"))


async def _store_and_publish(
    settings: TimelineSettings,
    key: str,
    event: WorkspaceConfigured | AccountConfigured,
    *,
    require_workspace: str | None = None,
) -> None:
    runtime = build_runtime("crm-admin", settings)
    try:
        if require_workspace is not None:
            found = await runtime.db["workspaces"].find_one({"_id": require_workspace})
            if found is None:
                raise AdminError(f"no workspace with id {require_workspace}: create it first")
        collection = "workspaces" if isinstance(event, WorkspaceConfigured) else "accounts"
        doc = event.model_dump(mode="json") | {"updated_at": event.updated_at}
        await runtime.db[collection].replace_one({"_id": key}, doc, upsert=True)
        await ensure_topics(settings.kafka_bootstrap, runtime.topics.all(), TOPIC_PARTITIONS)
        await runtime.broker.connect()
        await publish(runtime.broker, runtime.topics.config, key, event)
    finally:
        await runtime.broker.stop()
        await runtime.mongo.close()
        runtime.tracer.shutdown()


async def create_workspace(
    settings: TimelineSettings,
    name: str,
    domains: Sequence[str],
    workspace_id: str | None = None,
) -> str:
    """Create or update a workspace with its own email domains; returns its id."""
    if not domains:
        raise AdminError("a workspace needs at least one domain of its own")
    ws_id = workspace_id or workspace_id_for(name)
    event = WorkspaceConfigured(
        workspace_id=ws_id,
        name=name,
        domains=tuple(dict.fromkeys(d.strip().lower() for d in domains)),
    )
    await _store_and_publish(settings, ws_id, event)
    return ws_id


async def connect_account(
    settings: TimelineSettings,
    *,
    workspace_id: str,
    email: str,
    imap_host: str,
    imap_port: int,
    imap_tls: TlsMode | str,
    username: str,
    password: SecretStr,
    caldav_url: str | None = None,
    visibility: MailVisibility | str = MailVisibility.SUBJECT,
    contact_creation: ContactCreation | str = ContactCreation.SENT_ONLY,
    calendar_visibility: CalendarVisibility | str = CalendarVisibility.EVERYTHING,
    account_id: str | None = None,
    owner_member_id: str | None = None,
) -> str:
    """Connect (or update) an IMAP mailbox, and optionally its CalDAV calendars; returns its id.

    The CalDAV login is the IMAP one, as on most self-hosted servers.
    """
    box = SecretBox(settings.secrets_key)
    sealed = box.seal(password.get_secret_value())
    address = normalize_email(email)
    acc_id = account_id or account_id_for(workspace_id, address)
    event = AccountConfigured(
        account_id=acc_id,
        workspace_id=workspace_id,
        owner_member_id=owner_member_id or member_id_for(workspace_id, address),
        email=address,
        imap=ImapConnection(
            host=imap_host,
            port=imap_port,
            tls=TlsMode(imap_tls),
            username=username,
            password_encrypted=sealed,
        ),
        caldav=(
            CalDavConnection(url=caldav_url, username=username, password_encrypted=sealed)
            if caldav_url
            else None
        ),
        mail=MailSettings(
            visibility=MailVisibility(visibility),
            contact_creation=ContactCreation(contact_creation),
        ),
        calendar=CalendarSettings(visibility=CalendarVisibility(calendar_visibility)),
    )
    await _store_and_publish(settings, acc_id, event, require_workspace=workspace_id)
    return acc_id


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-admin", description="Create workspaces and connect accounts."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ws = commands.add_parser("create-workspace", help="create a workspace; prints its id")
    ws.add_argument("--name", required=True)
    ws.add_argument("--domain", action="append", required=True, dest="domains")
    ws.add_argument("--id", dest="workspace_id")

    acc = commands.add_parser("connect-account", help="connect a mailbox; prints its id")
    acc.add_argument("--workspace", required=True)
    acc.add_argument("--email", required=True)
    acc.add_argument("--imap-host", required=True)
    acc.add_argument("--imap-port", required=True, type=int)
    acc.add_argument("--imap-tls", choices=[t.value for t in TlsMode], default="ssl")
    acc.add_argument("--username", required=True)
    acc.add_argument(
        "--password-env", required=True, help="name of the env variable holding the password"
    )
    acc.add_argument("--caldav-url")
    acc.add_argument("--visibility", choices=[v.value for v in MailVisibility], default="subject")
    acc.add_argument(
        "--contact-creation", choices=[c.value for c in ContactCreation], default="sent_only"
    )
    acc.add_argument(
        "--calendar-visibility",
        choices=[v.value for v in CalendarVisibility],
        default="everything",
    )
    acc.add_argument("--owner-member-id")
    acc.add_argument("--id", dest="account_id")
    return parser


async def _run(args: argparse.Namespace, settings: TimelineSettings) -> str:
    if args.command == "create-workspace":
        return await create_workspace(settings, args.name, args.domains, args.workspace_id)
    password = os.environ.get(args.password_env)
    if not password:
        raise AdminError(f"environment variable {args.password_env} is not set or empty")
    return await connect_account(
        settings,
        workspace_id=args.workspace,
        email=args.email,
        imap_host=args.imap_host,
        imap_port=args.imap_port,
        imap_tls=args.imap_tls,
        username=args.username,
        password=SecretStr(password),
        caldav_url=args.caldav_url,
        visibility=args.visibility,
        contact_creation=args.contact_creation,
        calendar_visibility=args.calendar_visibility,
        account_id=args.account_id,
        owner_member_id=args.owner_member_id,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``crm-admin``: prints the id of what it created, nothing else."""
    args = _parser().parse_args(argv)
    try:
        print(asyncio.run(_run(args, TimelineSettings())))
    except AdminError as error:
        print(f"crm-admin: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
