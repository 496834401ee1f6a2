"""Each service's own projection of the config topic: workspaces and connected accounts."""

from pymongo.asynchronous.database import AsyncDatabase

from crm_runtime.delivery import RetryLater
from crm_runtime.mongo import Document, upsert_if_newer
from crm_schemas.config import AccountConfigured, ConfigEvent, WorkspaceConfigured


class ConfigStore:
    """Workspaces and accounts as last published, in the service's own database."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._workspaces = db["config_workspaces"]
        self._accounts = db["config_accounts"]

    async def apply(self, event: ConfigEvent) -> None:
        """Keep the newest version of a workspace or account; older ones are ignored."""
        doc = event.model_dump(mode="json")
        doc["updated_at"] = event.updated_at
        if isinstance(event, WorkspaceConfigured):
            await upsert_if_newer(self._workspaces, event.workspace_id, doc, "updated_at")
        else:
            await upsert_if_newer(self._accounts, event.account_id, doc, "updated_at")

    async def workspace(self, workspace_id: str) -> WorkspaceConfigured | None:
        """The workspace, if its config has arrived."""
        doc = await self._workspaces.find_one({"_id": workspace_id})
        return WorkspaceConfigured.model_validate(doc) if doc else None

    async def account(self, account_id: str) -> AccountConfigured | None:
        """The account, if its config has arrived."""
        doc = await self._accounts.find_one({"_id": account_id})
        return AccountConfigured.model_validate(doc) if doc else None

    async def account_in_workspace(
        self, account_id: str
    ) -> tuple[AccountConfigured, WorkspaceConfigured]:
        """The account and its workspace, or RetryLater while their config is on its way."""
        account = await self.account(account_id)
        workspace = await self.workspace(account.workspace_id) if account else None
        if account is None or workspace is None:
            raise RetryLater(f"config of account {account_id} has not arrived yet")
        return account, workspace

    async def accounts(self) -> list[AccountConfigured]:
        """Every connected account, disconnected ones left out."""
        cursor = self._accounts.find({"disconnected": False})
        return [AccountConfigured.model_validate(doc) async for doc in cursor]
