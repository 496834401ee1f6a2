"""Connected accounts: connect (tested first), settings, status, sync now, disconnect.

Every member sees the workspace's accounts, their settings and their sync status; only
an account's owner (or an admin, to disconnect) changes it. Passwords are never returned.
"""

from collections.abc import Sequence
from typing import Annotated, cast

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from crm_schemas.base import utcnow
from crm_schemas.config import AccountConfigured
from timeline_api.api.account_models import AccountView, ConnectionTest, status_views
from timeline_api.api.deps import Dir, Reprocessing, Viewer
from timeline_api.api.problems import ProblemError, problem_responses
from timeline_api.api.replay import check_replay, queue_replay
from timeline_api.domain.access import Member
from timeline_api.domain.replay import ReplayScope, kinds_for_account_change
from timeline_api.ports import Directory
from timeline_api.service.account_requests import AccountCreate, AccountUpdate
from timeline_api.service.accounts import Connector, Credentials, SyncQueue

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
READ_ERRORS = problem_responses(401, 404)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422)


def get_connector(request: Request) -> Connector:
    """The connection tester and account builder made at start-up."""
    return cast(Connector, request.app.state.connector)


def get_sync_queue(request: Request) -> SyncQueue:
    """Where 'sync now' requests go."""
    return cast(SyncQueue, request.app.state.sync_queue)


Conn = Annotated[Connector, Depends(get_connector)]
Queue = Annotated[SyncQueue, Depends(get_sync_queue)]


async def account_view(directory: Directory, account: AccountConfigured) -> AccountView:
    """The account as the API shows it, with its sync status."""
    return AccountView.of(
        account, status_views(account, await directory.statuses(account.account_id))
    )


async def _account(directory: Directory, viewer: Member, account_id: str) -> AccountConfigured:
    account = await directory.account(account_id)
    if account is None or account.workspace_id != viewer.workspace_id or account.disconnected:
        raise HTTPException(404, f"no account with id {account_id}")
    return account


async def _tested(
    connector: Connector, creds: Credentials, folders: Sequence[str]
) -> ConnectionTest:
    checks = await connector.check(creds, folders)
    return ConnectionTest(ok=all(c.ok for c in checks), checks=checks)


def _refuse_failed(checks: ConnectionTest) -> None:
    """A 422 naming each protocol that failed, with every check as ``checks``."""
    if not checks.ok:
        failed = [c for c in checks.checks if not c.ok]
        raise ProblemError(
            422,
            "; ".join(f"{c.protocol}: {c.message}" for c in failed) + ". Nothing was saved.",
            checks=[c.model_dump(mode="json") for c in checks.checks],
        )


@router.post("/test", response_model=ConnectionTest, responses=problem_responses(401, 422))
async def test_connection(body: AccountCreate, connector: Conn, viewer: Viewer) -> ConnectionTest:
    """Test the connection: check each protocol given, separately; store nothing."""
    return await _tested(connector, connector.credentials(body), body.mail.include_folders or ())


@router.post("", status_code=201, response_model=AccountView, responses=WRITE_ERRORS)
async def connect(
    body: AccountCreate,
    directory: Dir,
    connector: Conn,
    queue: Queue,
    viewer: Viewer,
    response: Response,
) -> AccountView:
    """Connect a mailbox and/or calendars, once every protocol's check passes; the first
    import starts at once. A failed check stores nothing and says which protocol and why."""
    creds = connector.credentials(body)
    _refuse_failed(await _tested(connector, creds, body.mail.include_folders or ()))
    account = connector.new_account(body, viewer)
    existing = await directory.account(account.account_id)
    if existing is not None and not existing.disconnected:
        raise HTTPException(409, f"{account.email} is connected already: change that account")
    await directory.save_account(account)
    await queue.sync_now(account)
    response.headers["Location"] = f"/v1/accounts/{account.account_id}"
    return await account_view(directory, account)


@router.get("", response_model=list[AccountView], responses=problem_responses(401))
async def list_accounts(directory: Dir, viewer: Viewer) -> list[AccountView]:
    """Every connected account of the workspace, with settings and sync status."""
    accounts = await directory.workspace_accounts(viewer.workspace_id)
    return [await account_view(directory, a) for a in accounts]


@router.get("/{account_id}", response_model=AccountView, responses=READ_ERRORS)
async def get_account(account_id: str, directory: Dir, viewer: Viewer) -> AccountView:
    """One account: its settings, its servers (no passwords) and where its sync stands."""
    return await account_view(directory, await _account(directory, viewer, account_id))


@router.patch("/{account_id}", response_model=AccountView, responses=WRITE_ERRORS)
async def update_account(
    account_id: str,
    body: AccountUpdate,
    directory: Dir,
    connector: Conn,
    queue: Queue,
    replays: Reprocessing,
    viewer: Viewer,
) -> AccountView:
    """Change settings or credentials (the owner only); new credentials and a new folder
    selection are tested first. It applies to everything processed from now on, and with
    ``apply_to_history`` to what the account synced before (a replay job of its items)."""
    account = await _account(directory, viewer, account_id)
    if account.owner_member_id != viewer.member_id:
        raise HTTPException(403, "only the owner of an account may change it")
    kinds = kinds_for_account_change(
        body.mail.model_dump(exclude_none=True) if body.mail else (),
        body.calendar.model_dump(exclude_none=True) if body.calendar else (),
        aliases=body.aliases is not None,
    )
    if body.apply_to_history and kinds:
        await check_replay(replays, kinds)
    folders = (body.mail.include_folders if body.mail else None) or account.mail.include_folders
    creds = connector.stored_credentials(account, body)
    _refuse_failed(await _tested(connector, creds, folders))
    changed = connector.changed_account(account, body)
    await directory.save_account(changed)
    if body.imap or body.caldav:  # new credentials: a failing account gets going again now
        await queue.sync_now(changed)
    view = await account_view(directory, changed)
    if body.apply_to_history and kinds:
        scope = ReplayScope(changed.workspace_id, changed.account_id)
        job = await queue_replay(replays, scope, kinds, viewer.member_id)
        view = view.model_copy(update={"replay_job": job.job_id})
    return view


@router.post("/{account_id}/sync", status_code=202, responses=READ_ERRORS)
async def sync_now(account_id: str, directory: Dir, queue: Queue, viewer: Viewer) -> Response:
    """Queue a sync of the account now, instead of at the next scheduled one."""
    await queue.sync_now(await _account(directory, viewer, account_id))
    return Response(status_code=202)


@router.delete("/{account_id}", status_code=204, responses=WRITE_ERRORS)
async def disconnect(account_id: str, directory: Dir, viewer: Viewer) -> Response:
    """Disconnect (the owner or an admin): its sync stops, and what only it brought leaves
    the timelines; messages and meetings also seen through another account stay."""
    account = await _account(directory, viewer, account_id)
    if account.owner_member_id != viewer.member_id and not viewer.is_admin:
        raise HTTPException(403, "only the owner of an account or an admin may disconnect it")
    gone = account.model_copy(
        update={
            "disconnected": True,
            "imap": None,
            "smtp": None,
            "caldav": None,
            "oauth": None,
            "updated_at": utcnow(),
        }
    )
    await directory.save_account(gone)
    return Response(status_code=204)
