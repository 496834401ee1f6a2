"""Linking writes nothing: it links participants to the ids their records have (or will
have), and says who the records' writer must hear of, once."""

from typing import Any, cast

from crm_schemas.config import AccountConfigured, WorkspaceConfigured
from crm_schemas.ids import company_id, person_id
from crm_schemas.mail import Participant, ParticipantRole
from crm_schemas.records import CompanyUpserted, PersonUpserted
from enricher.adapters.records import Records, index_key
from enricher.linking import Linker, ToLink

WS = "ws-link"
WORKSPACE = WorkspaceConfigured(workspace_id=WS, name="Acme", domains=("acme.test",))
ACCOUNT = AccountConfigured(
    account_id="acc", workspace_id=WS, owner_member_id="m", email="owner@acme.test"
)


class KnownRecords:
    """The two reads linking makes, over dicts."""

    def __init__(self, *people: PersonUpserted, companies: tuple[CompanyUpserted, ...] = ()):
        self.people = {index_key(p.workspace_id, e): p for p in people for e in p.emails}
        self.companies = {index_key(c.workspace_id, d): c for c in companies for d in c.domains}

    async def people_by_keys(self, keys: Any) -> dict[str, PersonUpserted]:
        return {k: self.people[k] for k in keys if k in self.people}

    async def companies_by_keys(self, keys: Any) -> dict[str, CompanyUpserted]:
        return {k: self.companies[k] for k in keys if k in self.companies}


def linker(records: KnownRecords) -> Linker:
    return Linker(cast(Records, records))


def item(*participants: Participant, create: bool = True) -> ToLink:
    owner = Participant(email="owner@acme.test", roles=(ParticipantRole.FROM,), internal=True)
    return ToLink(ACCOUNT, WORKSPACE, (owner, *participants), create)


def to(email: str, name: str | None = None) -> Participant:
    return Participant(email=email, name=name, roles=(ParticipantRole.TO,), internal=False)


async def test_someone_new_is_linked_to_the_ids_the_writer_will_give_them() -> None:
    [linked], [told] = await linker(KnownRecords()).link([item(to("Ann@Client.test", "Ann"))])

    ann = linked[1]
    assert (ann.person_id, ann.company_id) == (
        person_id(WS, "ann@client.test"),
        company_id(WS, "client.test"),
    )
    assert (told.email, told.display_name, told.create, told.company_domain) == (
        "ann@client.test",
        "Ann",
        True,
        "client.test",
    )


async def test_the_owner_internal_and_role_addresses_are_never_told() -> None:
    colleague = Participant(email="bob@acme.test", roles=(ParticipantRole.CC,), internal=True)
    _, told = await linker(KnownRecords()).link([item(colleague, to("support@client.test"))])
    assert told == []


async def test_a_display_name_on_mail_that_creates_nobody_is_still_told_once() -> None:
    links = linker(KnownRecords())
    received = item(to("ann@client.test", "Ann Lee"), create=False)

    [linked, _], told = await links.link([received, received])
    links.memory.remember(told)
    _, again = await links.link([received])

    assert [(t.create, t.display_name) for t in told] == [(False, "Ann Lee")]
    assert linked[1].person_id is None
    assert again == []
    _, created = await links.link([item(to("ann@client.test"))])  # now one may create her
    assert [(t.create, t.display_name) for t in created] == [(True, None)]


async def test_a_known_person_named_from_the_address_is_told_the_display_name() -> None:
    ann = PersonUpserted(
        person_id="p-ann",
        workspace_id=WS,
        name="Ann",
        name_from_address=True,
        emails=("ann@client.test",),
    )
    links = linker(KnownRecords(ann))
    [linked], told = await links.link([item(to("ann@client.test", "Ann Lee"))])
    assert linked[1].person_id == "p-ann"
    assert [(t.email, t.display_name) for t in told] == [("ann@client.test", "Ann Lee")]
    _, quiet = await links.link([item(to("ann@client.test"))])  # no name: nothing to say
    assert quiet == []
