"""Connected accounts: connect (tested first), settings, status, sync now, disconnect.

Every member sees the workspace's accounts, their settings and their sync status; only
an account's owner (or an admin, to disconnect) changes it. Passwords are never returned.
"""

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request, Response

from crm_schemas.config import AccountConfigured
from timeline_api.api.account_models import AccountView, ConnectionTest, status_views
from timeline_api.api.deps import Viewer
from timeline_api.api.problems import ProblemError, problem_responses
from timeline_api.ports.accounts import Directory
from timeline_api.service.account_actions import AccountActions, AccountState, ChecksFailedError
from timeline_api.service.account_requests import AccountCreate, AccountUpdate
from timeline_api.service.accounts import Connector, SyncQueue

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])
READ_ERRORS = problem_responses(401, 404)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422)


def get_connector(request: Request) -> Connector:
    """The connection tester and account builder made at start-up."""
    return cast(Connector, request.app.state.connector)


def get_sync_queue(request: Request) -> SyncQueue:
    """Where 'sync now' requests go."""
    return cast(SyncQueue, request.app.state.sync_queue)


def get_actions(request: Request) -> AccountActions:
    """What members do with accounts (the same use cases the web app calls)."""
    return cast(AccountActions, request.app.state.account_actions)


Conn = Annotated[Connector, Depends(get_connector)]
Queue = Annotated[SyncQueue, Depends(get_sync_queue)]
Actions = Annotated[AccountActions, Depends(get_actions)]


async def account_view(directory: Directory, account: AccountConfigured) -> AccountView:
    """The account as the API shows it, with its sync status."""
    return AccountView.of(
        account, status_views(account, await directory.statuses(account.account_id))
    )


def _view(state: AccountState) -> AccountView:
    view = AccountView.of(state.account, state.status)
    return view.model_copy(update={"replay_job": state.replay_job}) if state.replay_job else view


def _checks_problem(error: ChecksFailedError) -> ProblemError:
    """A 422 naming each protocol that failed, with every check as ``checks``."""
    return ProblemError(422, str(error), checks=[c.model_dump(mode="json") for c in error.checks])


@router.post("/test", response_model=ConnectionTest, responses=problem_responses(401, 422))
async def test_connection(body: AccountCreate, actions: Actions, viewer: Viewer) -> ConnectionTest:
    """Test the connection: check each protocol given, separately; store nothing."""
    checks = await actions.test(body)
    return ConnectionTest(ok=all(c.ok for c in checks), checks=checks)


@router.post("", status_code=201, response_model=AccountView, responses=WRITE_ERRORS)
async def connect(
    body: AccountCreate, actions: Actions, viewer: Viewer, response: Response
) -> AccountView:
    """Connect a mailbox and/or calendars, once every protocol's check passes; the first
    import starts at once. A failed check stores nothing and says which protocol and why."""
    try:
        state = await actions.connect(body, viewer)
    except ChecksFailedError as error:
        raise _checks_problem(error) from error
    response.headers["Location"] = f"/v1/accounts/{state.account.account_id}"
    return _view(state)


@router.get("", response_model=list[AccountView], responses=problem_responses(401))
async def list_accounts(actions: Actions, viewer: Viewer) -> list[AccountView]:
    """Every connected account of the workspace, with settings and sync status."""
    return [_view(s) for s in await actions.accounts(viewer)]


@router.get("/{account_id}", response_model=AccountView, responses=READ_ERRORS)
async def get_account(account_id: str, actions: Actions, viewer: Viewer) -> AccountView:
    """One account: its settings, its servers (no passwords) and where its sync stands."""
    return _view(await actions.state(await actions.account(account_id, viewer)))


@router.patch("/{account_id}", response_model=AccountView, responses=WRITE_ERRORS)
async def update_account(
    account_id: str, body: AccountUpdate, actions: Actions, viewer: Viewer
) -> AccountView:
    """Change settings or credentials (the owner only); new credentials and a new folder
    selection are tested first. It applies to everything processed from now on, and with
    ``apply_to_history`` to what the account synced before (a replay job of its items,
    ``replay_job``; 409 when the raw topics no longer hold that history)."""
    try:
        return _view(await actions.update(account_id, body, viewer))
    except ChecksFailedError as error:
        raise _checks_problem(error) from error


@router.post("/{account_id}/sync", status_code=202, responses=READ_ERRORS)
async def sync_now(account_id: str, actions: Actions, viewer: Viewer) -> Response:
    """Queue a sync of the account now, instead of at the next scheduled one."""
    await actions.sync_now(account_id, viewer)
    return Response(status_code=202)


@router.delete("/{account_id}", status_code=204, responses=WRITE_ERRORS)
async def disconnect(account_id: str, actions: Actions, viewer: Viewer) -> Response:
    """Disconnect (the owner or an admin): its sync stops, and what only it brought leaves
    the timelines; messages and meetings also seen through another account stay."""
    await actions.disconnect(account_id, viewer)
    return Response(status_code=204)
