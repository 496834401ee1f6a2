"""What a page needs: the use cases the app's lifespan built, who is signed in, and a
checked CSRF token on every form.

Pages are served by ``WebRoute``: a refusal from a use case (no such record, not allowed,
not signed in, a form without its token) becomes a page that says so, never a problem
document or a stack trace.
"""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, cast

from fastapi import Depends, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from crm_schemas.config import OAuthProvider
from timeline_api.domain.ownership import ConflictError, InvalidError, NotFoundError
from timeline_api.domain.search import InvalidSearchError
from timeline_api.domain.web_session import same_token
from timeline_api.ports.accounts import Consent, Directory
from timeline_api.ports.records import RecordReader
from timeline_api.ports.timelines import Conversations
from timeline_api.service.account_actions import AccountActions, ForbiddenError
from timeline_api.service.lookups import MailboxSearch
from timeline_api.service.records import RecordWriter
from timeline_api.service.search import RecordSearch
from timeline_api.service.sign_in import SignedIn, SignIn
from timeline_api.service.timelines import TimelineQueries
from timeline_api.settings import TimelineSettings
from timeline_api.web.render import error_page

SESSION_COOKIE = "crm_session"
CSRF_FIELD = "csrf"


class SignInRequiredError(Exception):
    """The page needs a signed-in member."""


class CsrfError(Exception):
    """A form came without the session's token (or with another one)."""


class WebRoute(APIRoute):
    """A page route: refusals become pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequiredError:
                return RedirectResponse("/app/sign-in", status_code=303)
            except CsrfError:
                detail = "This form had expired or did not come from this app: go back, reload."
                return error_page(request, 403, "Form refused", detail)
            except NotFoundError as error:
                detail = f"{error}. It may be in another workspace, or gone."
                return error_page(request, 404, "Not found", detail)
            except ForbiddenError as error:
                return error_page(request, 403, "Not allowed", str(error))
            except (InvalidError, InvalidSearchError, ConflictError) as error:
                return error_page(request, 422, "Cannot do that", str(error))

        return guarded


@dataclass(frozen=True)
class Ports:
    """The use cases and ports the app's lifespan put in its state (``entrypoints.http``)."""

    settings: TimelineSettings
    records: RecordReader
    conversations: Conversations
    timelines: TimelineQueries
    directory: Directory
    search: RecordSearch
    accounts: AccountActions
    sign_in: SignIn
    consents: dict[OAuthProvider, Consent]
    records_writer: RecordWriter
    mailbox_search: MailboxSearch


def get_ports(request: Request) -> Ports:
    """The ports of this app."""
    state = request.app.state
    return Ports(
        settings=cast(TimelineSettings, state.settings),
        records=cast(RecordReader, state.records),
        conversations=cast(Conversations, state.conversations),
        timelines=cast(TimelineQueries, state.timelines),
        directory=cast(Directory, state.directory),
        search=cast(RecordSearch, state.search),
        accounts=cast(AccountActions, state.account_actions),
        sign_in=cast(SignIn, state.sign_in),
        consents=cast(dict[OAuthProvider, Consent], state.consents),
        records_writer=cast(RecordWriter, state.writer),
        mailbox_search=cast(MailboxSearch, state.mailbox_search),
    )


async def signed_in(request: Request) -> SignedIn:
    """The member this browser's session signs in; else to the sign-in page."""
    found = await get_ports(request).sign_in.signed_in(request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise SignInRequiredError
    request.state.signed_in = found
    return found


async def checked_form(request: Request) -> SignedIn:
    """The signed-in member of a form post that carries the session's CSRF token."""
    found = await signed_in(request)
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if not same_token(token if isinstance(token, str) else None, found.session.csrf_token):
        raise CsrfError
    return found


App = Annotated[Ports, Depends(get_ports)]
Member = Annotated[SignedIn, Depends(signed_in)]
FormPost = Annotated[SignedIn, Depends(checked_form)]
