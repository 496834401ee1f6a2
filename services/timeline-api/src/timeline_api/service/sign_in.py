"""Signing in to the web app: a one-time link opens a session; the session names the
member every page acts as; signing out ends it (``domain.web_session``)."""

from dataclasses import dataclass
from datetime import timedelta

from crm_schemas.base import utcnow
from timeline_api.domain.access import Member, key_digest
from timeline_api.domain.web_session import (
    LINK_TTL,
    SESSION_TTL,
    SignInLink,
    WebSession,
    is_expired,
    new_token,
)
from timeline_api.ports.accounts import Directory, SignIns


class SignInError(Exception):
    """A sign-in link that cannot sign anyone in; the message says what to do."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session's member, and the session (its CSRF token for the forms)."""

    member: Member
    session: WebSession


class SignIn:
    """Issues sign-in links, turns one into a session, and tells who a session is."""

    def __init__(
        self,
        sign_ins: SignIns,
        directory: Directory,
        link_ttl: timedelta = LINK_TTL,
        session_ttl: timedelta = SESSION_TTL,
    ) -> None:
        self._sign_ins = sign_ins
        self._directory = directory
        self._link_ttl = link_ttl
        self._session_ttl = session_ttl

    async def issue_link(self, member: Member) -> str:
        """A new one-time sign-in token for the member (shown once, stored as a digest)."""
        token = new_token()
        link = SignInLink(member.member_id, member.workspace_id, utcnow() + self._link_ttl)
        await self._sign_ins.save_link(key_digest(token), link)
        return token

    async def redeem(self, token: str) -> tuple[str, SignedIn]:
        """Use a sign-in token (once): a new session's token and who it signs in."""
        link = await self._sign_ins.take_link(key_digest(token))
        if link is None:
            raise SignInError("this sign-in link is unknown or was used already: ask for a new one")
        if is_expired(link.expires_at, utcnow()):
            raise SignInError("this sign-in link expired: ask for a new one")
        member = await self._directory.member(link.member_id)
        if member is None or member.workspace_id != link.workspace_id:
            raise SignInError("the member of this sign-in link no longer exists")
        session_token = new_token()
        session = WebSession(
            member.member_id, member.workspace_id, new_token(), utcnow() + self._session_ttl
        )
        await self._sign_ins.save_session(key_digest(session_token), session)
        return session_token, SignedIn(member, session)

    async def signed_in(self, session_token: str | None) -> SignedIn | None:
        """Who a session cookie signs in; None when there is no live session."""
        if not session_token or len(session_token) > 200:
            return None
        digest = key_digest(session_token)
        session = await self._sign_ins.session(digest)
        if session is None:
            return None
        if is_expired(session.expires_at, utcnow()):
            await self._sign_ins.end_session(digest)
            return None
        member = await self._directory.member(session.member_id)
        if member is None or member.workspace_id != session.workspace_id:
            return None
        return SignedIn(member, session)

    async def sign_out(self, session_token: str | None) -> None:
        """End the session, whatever state it is in."""
        if session_token and len(session_token) <= 200:
            await self._sign_ins.end_session(key_digest(session_token))
