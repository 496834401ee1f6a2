"""``crm-admin``: create workspaces, connect accounts, sign members in to the web app,
rotate the secrets key, and list and re-drive dead letters (``deadletters``, in
``admin_deadletters``) from the command line.

The timeline API owns workspaces and accounts: each command stores the record in the
API's own database and publishes it on the config topic for every other service. Ids are
deterministic, so running a command twice updates the same record. Passwords are read
from an environment variable named on the command line, sealed at once, and never
printed or logged.
"""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from pydantic import SecretStr

from crm_runtime.secrets import SecretDecryptionError, new_secrets_key, secret_box
from crm_runtime.service import Runtime, build_runtime, running
from crm_runtime.settings import ConfigurationError
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
)
from crm_schemas.ids import normalize_email
from timeline_api.adapters.directory import MongoDirectory
from timeline_api.adapters.kafka import topic_publisher
from timeline_api.bootstrap import read_model, sign_in
from timeline_api.domain.access import Role, account_id_for, member_for, member_id_for
from timeline_api.entrypoints import admin_deadletters, admin_replay
from timeline_api.service.secrets_rotation import rotate_secrets
from timeline_api.service.workspaces import WorkspaceError, bootstrap_workspace
from timeline_api.service.workspaces import create_workspace as create_workspace_in
from timeline_api.settings import TimelineSettings

__all__ = ["account_id_for", "member_id_for"]


class AdminError(Exception):
    """A command cannot be done as asked; the message says why."""


@asynccontextmanager
async def _runtime(settings: TimelineSettings) -> AsyncIterator[Runtime]:
    """The API's database and a connected producer, for one command."""
    async with running(build_runtime("crm-admin", settings), consume=False) as runtime:
        yield runtime


@asynccontextmanager
async def _directory(settings: TimelineSettings) -> AsyncIterator[MongoDirectory]:
    """The API's directory on its database, publishing on the config topic."""
    async with _runtime(settings) as runtime:
        try:
            yield MongoDirectory(runtime.db, topic_publisher(runtime.broker, runtime.topics.config))
        except WorkspaceError as error:
            raise AdminError(str(error)) from error


async def create_workspace(
    settings: TimelineSettings,
    name: str,
    domains: Sequence[str],
    workspace_id: str | None = None,
) -> str:
    """Create or update a workspace with its own email domains; returns its id."""
    async with _directory(settings) as directory:
        ws = await create_workspace_in(directory, name, domains, workspace_id)
    return ws.workspace_id


async def bootstrap(
    settings: TimelineSettings,
    name: str,
    domains: Sequence[str],
    admin_email: str,
    admin_name: str | None = None,
    workspace_id: str | None = None,
) -> dict[str, str]:
    """A workspace, its first member (an admin) and that member's API key."""
    async with _directory(settings) as directory:
        ws, member, key = await bootstrap_workspace(
            directory, name, domains, admin_email, admin_name, workspace_id
        )
    return {"workspace_id": ws.workspace_id, "member_id": member.member_id, "api_key": key}


async def add_member(
    settings: TimelineSettings,
    workspace_id: str,
    email: str,
    name: str | None = None,
    role: Role | str = Role.MEMBER,
) -> dict[str, str]:
    """A member of an existing workspace (or one already there) and a new API key for them."""
    async with _directory(settings) as directory:
        if await directory.workspace(workspace_id) is None:
            raise AdminError(f"no workspace with id {workspace_id}: create it first")
        member = await directory.member(member_id_for(workspace_id, email))
        if member is None:
            member = member_for(workspace_id, email, name, Role(role))
            await directory.save_member(member)
        key = await directory.issue_key(member, "crm-admin")
    return {"workspace_id": workspace_id, "member_id": member.member_id, "api_key": key}


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
    box = secret_box(settings)
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
    async with _directory(settings) as directory:
        if await directory.workspace(workspace_id) is None:
            raise AdminError(f"no workspace with id {workspace_id}: create it first")
        await directory.save_account(event)
    return acc_id


async def save_account(settings: TimelineSettings, account: AccountConfigured) -> None:
    """Store and announce an account exactly as given (scripts and tests that bring their
    own connection, e.g. an OAuth grant obtained elsewhere)."""
    async with _directory(settings) as directory:
        if await directory.workspace(account.workspace_id) is None:
            raise AdminError(f"no workspace with id {account.workspace_id}: create it first")
        await directory.save_account(account)


async def sign_in_link(settings: TimelineSettings, workspace_id: str, email: str) -> str:
    """A one-time link that signs the member in to the web app (valid for
    ``TIMELINE_SIGN_IN_LINK_MINUTES``, used once)."""
    async with _runtime(settings) as runtime:
        directory = MongoDirectory(
            runtime.db, topic_publisher(runtime.broker, runtime.topics.config)
        )
        member = await directory.member(member_id_for(workspace_id, email))
        if member is None:
            raise AdminError(f"{email} is not a member of workspace {workspace_id}")
        token = await sign_in(runtime, settings, directory).issue_link(member)
    return f"{settings.public_url.rstrip('/')}/app/sign-in/{token}"


async def index_timelines(settings: TimelineSettings) -> dict[str, int]:
    """Build the read model's own structures from what is stored (with the heads: every
    stored thread on the timeline index and every stored person on their company's roster,
    for a read model from before they existed); how many of each."""
    async with _runtime(settings) as runtime:
        return await read_model(runtime, settings).backfill()


async def rotate_account_secrets(settings: TimelineSettings) -> dict[str, int]:
    """Seal every account's secrets with the first of the configured keys and publish each
    changed account (key rotation); how many accounts there are and how many changed."""
    box = secret_box(settings)
    async with _directory(settings) as directory:
        try:
            report = await rotate_secrets(directory, box)
        except SecretDecryptionError as error:
            raise AdminError(
                f"{error}: add the key it was sealed with to TIMELINE_SECRETS_KEY (after the"
                " new one) and run rotate-secrets again"
            ) from error
    return {"accounts": report.accounts, "resealed": report.resealed}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-admin", description="Create workspaces and connect accounts."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    ws = commands.add_parser("create-workspace", help="create a workspace; prints its id")
    ws.add_argument("--name", required=True)
    ws.add_argument("--domain", action="append", required=True, dest="domains")
    ws.add_argument("--id", dest="workspace_id")

    boot = commands.add_parser(
        "bootstrap",
        help="create a workspace with its first member (an admin); prints ids and the API key",
    )
    boot.add_argument("--name", required=True)
    boot.add_argument("--domain", action="append", required=True, dest="domains")
    boot.add_argument("--admin-email", required=True)
    boot.add_argument("--admin-name")
    boot.add_argument("--id", dest="workspace_id")

    mem = commands.add_parser(
        "add-member", help="add a member to a workspace; prints ids and a new API key"
    )
    mem.add_argument("--workspace", required=True)
    mem.add_argument("--email", required=True)
    mem.add_argument("--name")
    mem.add_argument("--role", choices=[r.value for r in Role], default="member")

    link = commands.add_parser(
        "sign-in-link", help="print a one-time link that signs a member in to the web app"
    )
    link.add_argument("--workspace", required=True)
    link.add_argument("--email", required=True)

    commands.add_parser(
        "index-timelines",
        help="put every stored thread on the timeline index and every stored person on"
        " their company's roster (once, after an upgrade); prints how many of each",
    )

    commands.add_parser(
        "new-secrets-key", help="print a new secrets key (for *_SECRETS_KEY); stores nothing"
    )
    commands.add_parser(
        "rotate-secrets",
        help="seal every account's passwords and tokens with the first key of"
        " TIMELINE_SECRETS_KEY (list the old key after it while rotating); prints counts",
    )

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
    admin_replay.add_commands(commands)
    admin_deadletters.add_commands(commands)
    return parser


async def _run(args: argparse.Namespace, settings: TimelineSettings) -> str:
    if args.command == "create-workspace":
        return await create_workspace(settings, args.name, args.domains, args.workspace_id)
    if args.command == "bootstrap":
        made = await bootstrap(
            settings, args.name, args.domains, args.admin_email, args.admin_name, args.workspace_id
        )
        return json.dumps(made, indent=2)
    if args.command == "add-member":
        made = await add_member(settings, args.workspace, args.email, args.name, args.role)
        return json.dumps(made, indent=2)
    if args.command == "sign-in-link":
        return await sign_in_link(settings, args.workspace, args.email)
    if args.command == "index-timelines":
        return json.dumps(await index_timelines(settings))
    if args.command == "replay":
        view = await admin_replay.replay(settings, args, admin_replay.line_printer())
        return view.model_dump_json(indent=2)
    if args.command == "compact-topics":
        return "\n".join(await admin_replay.compact_topics(settings))
    if args.command == "new-secrets-key":
        return new_secrets_key()
    if args.command == "rotate-secrets":
        return json.dumps(await rotate_account_secrets(settings))
    if args.command == "deadletters":
        return await admin_deadletters.run(args, settings)
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
    """Entry point of ``crm-admin``: prints what it created (an id, or JSON with a key)."""
    args = _parser().parse_args(argv)
    try:
        print(asyncio.run(_run(args, TimelineSettings())))
    except (AdminError, ConfigurationError, LookupError, admin_replay.ReplayCommandError) as error:
        print(f"crm-admin: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
