"""Sign-in links and web sessions in MongoDB, by the digest of their token
(``ports.accounts.SignIns``): one ``_id`` read per page. Expired ones are deleted when they are
next read (FerretDB has no TTL index)."""

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.mongo import Document
from timeline_api.domain.web_session import SignInLink, WebSession


class MongoSignIns:
    """The ``sign_in_links`` and ``web_sessions`` collections."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.links: AsyncCollection[Document] = db["sign_in_links"]
        self.sessions: AsyncCollection[Document] = db["web_sessions"]

    async def save_link(self, digest: str, link: SignInLink) -> None:
        """Remember a sign-in link until it is used or expires."""
        doc = {
            "member_id": link.member_id,
            "workspace_id": link.workspace_id,
            "expires_at": link.expires_at,
        }
        await self.links.replace_one({"_id": digest}, doc, upsert=True)

    async def take_link(self, digest: str) -> SignInLink | None:
        """The link of this digest, at most once: deleted as it is read."""
        doc = await self.links.find_one_and_delete({"_id": digest})
        if doc is None:
            return None
        return SignInLink(doc["member_id"], doc["workspace_id"], doc["expires_at"])

    async def save_session(self, digest: str, session: WebSession) -> None:
        """Keep a session."""
        doc = {
            "member_id": session.member_id,
            "workspace_id": session.workspace_id,
            "csrf_token": session.csrf_token,
            "expires_at": session.expires_at,
        }
        await self.sessions.replace_one({"_id": digest}, doc, upsert=True)

    async def session(self, digest: str) -> WebSession | None:
        """The session of this digest, or None."""
        doc = await self.sessions.find_one({"_id": digest})
        if doc is None:
            return None
        return WebSession(
            doc["member_id"], doc["workspace_id"], doc["csrf_token"], doc["expires_at"]
        )

    async def end_session(self, digest: str) -> None:
        """Forget a session."""
        await self.sessions.delete_one({"_id": digest})
