"""Creating workspaces and their members: what ``crm-admin`` and the API both do."""

from collections.abc import Sequence

from crm_schemas.config import WorkspaceConfigured
from timeline_api.domain.access import Member, Role, member_for, workspace_id_for
from timeline_api.domain.ownership import normalized_domains
from timeline_api.ports.accounts import Directory


class WorkspaceError(Exception):
    """A workspace cannot be made as asked; the message says why."""


async def create_workspace(
    directory: Directory, name: str, domains: Sequence[str], workspace_id: str | None = None
) -> WorkspaceConfigured:
    """Create or update a workspace with its own email domains."""
    own = normalized_domains(domains)
    if not own:
        raise WorkspaceError("a workspace needs at least one domain of its own")
    if not name.strip():
        raise WorkspaceError("a workspace needs a name")
    ws_id = workspace_id or workspace_id_for(name)
    previous = await directory.workspace(ws_id)
    kept = previous.model_dump(exclude={"updated_at"}) if previous else {}
    event = WorkspaceConfigured.model_validate(
        kept | {"workspace_id": ws_id, "name": name.strip(), "domains": own}
    )
    await directory.save_workspace(event)
    return event


async def bootstrap_workspace(
    directory: Directory,
    name: str,
    domains: Sequence[str],
    admin_email: str,
    admin_name: str | None = None,
    workspace_id: str | None = None,
) -> tuple[WorkspaceConfigured, Member, str]:
    """A workspace with its first member, an admin, and that member's first API key."""
    ws = await create_workspace(directory, name, domains, workspace_id)
    member = member_for(ws.workspace_id, admin_email, admin_name, Role.ADMIN)
    await directory.save_member(member)
    return ws, member, await directory.issue_key(member, "bootstrap")
