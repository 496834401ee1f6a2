"""Linking a whole batch of items' participants to people and companies at once.

Per batch: the address and domain indexes are read in one query each, and the people
and companies they point at in one more. Per participant the rules are those of SPEC.md:
no person for internal, owner, role, robot or blocked addresses; a company only for a
company domain (not a personal provider's), reused when it exists.

Linking writes nothing: the records have one writer (``enricher.owner``, docs/adr/0029).
Every participant who may become a person, or whose display name may name one, is told
to it as a ``PersonSeen``; it creates the person once, with the best name seen so far,
or renames them. A participant to be created is linked at once to the ids the writer
will give (deterministic: from the workspace and the address or the domain).
"""

from dataclasses import dataclass, field

from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.ids import company_id, normalize_email, person_id
from crm_schemas.mail import Participant
from crm_schemas.record_commands import PersonSeen
from crm_schemas.records import CompanyUpserted, PersonUpserted
from enricher.adapters.records import Records, index_key
from enricher.rules.companies import company_domain, workspace_personal_domains
from enricher.rules.creation import may_become_person, role_local_parts
from enricher.rules.names import better_name, name_in_header

SEEN_MEMORY = 100_000
"""Addresses of people not created yet whose ``PersonSeen`` this process remembers."""


@dataclass(frozen=True, slots=True)
class ToLink:
    """One item's participants, with the account that saw it and whether it may create."""

    account: AccountConfigured
    workspace: WorkspaceConfigured
    participants: tuple[Participant, ...]
    create: bool


@dataclass(slots=True)
class SeenMemory:
    """What this process told the writer about addresses nobody has yet: a received
    mail's sender, seen again in every message until someone creates them, is told once
    (``create`` and a name, each once)."""

    told: dict[str, tuple[bool, bool]] = field(default_factory=dict)

    def news(self, seen: PersonSeen) -> bool:
        """Whether ``seen`` says more than what was told already."""
        create, named = self.told.get(index_key(seen.workspace_id, seen.email), (False, False))
        return (seen.create and not create) or (seen.display_name is not None and not named)

    def remember(self, told: list[PersonSeen]) -> None:
        """Once these were published."""
        if len(self.told) > SEEN_MEMORY:
            self.told.clear()
        for seen in told:
            key = index_key(seen.workspace_id, seen.email)
            create, named = self.told.get(key, (False, False))
            self.told[key] = (create or seen.create, named or seen.display_name is not None)


def _domain(p: Participant, workspace: WorkspaceConfigured) -> str | None:
    if p.internal:
        return None
    personal = workspace_personal_domains(
        workspace.personal_domains_add, workspace.personal_domains_remove
    )
    return company_domain(p.email, frozenset(workspace.domains), personal)


def _seen(item: ToLink, p: Participant, person: PersonUpserted | None) -> PersonSeen | None:
    """What the writer must hear of this participant: a name better than a known
    person's, a person to create, or a display name to remember; None if nothing."""
    ws = item.workspace.workspace_id
    if person is not None:
        name = better_name(person, p.name)
        email = normalize_email(p.email)
        return PersonSeen(workspace_id=ws, email=email, display_name=name) if name else None
    roles = role_local_parts(
        item.workspace.role_addresses_add, item.workspace.role_addresses_remove
    )
    blocklist = item.account.mail.blocklist
    if not may_become_person(p, item.account.owner_addresses, roles=roles, blocklist=blocklist):
        return None
    name = name_in_header(p.name) or None
    if not item.create and name is None:
        return None
    return PersonSeen(
        workspace_id=ws,
        email=normalize_email(p.email),
        display_name=name,
        create=item.create,
        company_domain=_domain(p, item.workspace),
    )


def _together(told: dict[str, PersonSeen], seen: PersonSeen) -> None:
    """One ``PersonSeen`` per address and batch: created if any item may, with the first
    display name of the batch."""
    key = index_key(seen.workspace_id, seen.email)
    before = told.get(key)
    if before is None:
        told[key] = seen
        return
    told[key] = before.model_copy(
        update={
            "create": before.create or seen.create,
            "display_name": before.display_name or seen.display_name,
            "company_domain": before.company_domain or seen.company_domain,
        }
    )


def _linked(
    p: Participant,
    ws: str,
    person: PersonUpserted | None,
    company: CompanyUpserted | None,
    domain: str | None,
    created: bool,
) -> Participant:
    """The participant with the ids of their person and company: those known, or those
    the writer gives the ones it creates (``created``)."""
    if person is not None:
        who: str | None = person.person_id
    else:
        who = person_id(ws, p.email) if created else p.person_id
    if company is not None:
        where: str | None = company.company_id
    else:
        where = company_id(ws, domain) if created and domain else None
    return p.model_copy(
        update={
            "person_id": who,
            "company_id": (person.company_id if person else None) or where,
            "company_domain": domain,
        }
    )


class Linker:
    """Links batches of items, and says who the records' writer must hear of."""

    def __init__(self, records: Records) -> None:
        self._records = records
        self.memory = SeenMemory()

    async def link(
        self, items: list[ToLink]
    ) -> tuple[list[tuple[Participant, ...]], list[PersonSeen]]:
        """Each item's linked participants, and what the writer must hear of them."""
        emails = {
            index_key(i.workspace.workspace_id, p.email) for i in items for p in i.participants
        }
        domains = {
            index_key(i.workspace.workspace_id, d)
            for i in items
            for p in i.participants
            if (d := _domain(p, i.workspace)) is not None
        }
        people = await self._records.people_by_keys(emails)
        companies = await self._records.companies_by_keys(domains)
        renames: dict[str, PersonSeen] = {}
        news: dict[str, PersonSeen] = {}
        linked: list[tuple[Participant, ...]] = []
        for item in items:
            ws = item.workspace.workspace_id
            participants = []
            for p in item.participants:
                person = people.get(index_key(ws, p.email))
                seen = _seen(item, p, person)
                if seen is not None:
                    _together(renames if person else news, seen)
                domain = _domain(p, item.workspace)
                company = companies.get(index_key(ws, domain)) if domain else None
                created = seen is not None and seen.create
                participants.append(_linked(p, ws, person, company, domain, created))
            linked.append(tuple(participants))
        told = [*renames.values(), *(s for s in news.values() if self.memory.news(s))]
        return linked, told
