"""The records' one writer, over an in-memory book: auto-creation exactly once, and the
records API's changes done or refused as the API answers them (404, 409, 422)."""

from crm_schemas.ids import company_id, person_id
from crm_schemas.record_commands import (
    ChangeCompany,
    ChangePerson,
    CreateCompany,
    CreatePerson,
    MergePeople,
    PersonSeen,
    RecordCommand,
    RecordOutcome,
)
from crm_schemas.records import CompanyUpserted, PersonUpserted
from enricher.owner.book import RecordBook, index_key, record_id
from enricher.owner.commands import apply

WS = "ws-owner"
ANN = "ann@client.test"


def seen(email: str = ANN, *, create: bool = True, name: str | None = None) -> PersonSeen:
    domain = email.partition("@")[2]
    return PersonSeen(
        workspace_id=WS,
        email=email,
        display_name=name,
        create=create,
        company_domain=None if domain == "gmail.com" else domain,
    )


def create(record_id: str, *emails: str, command: str = "c-create") -> CreatePerson:
    return CreatePerson(
        command_id=command, workspace_id=WS, person_id=record_id, name=record_id, emails=emails
    )


def company(record_id: str, *domains: str, command: str = "c-company") -> CreateCompany:
    return CreateCompany(
        command_id=command, workspace_id=WS, company_id=record_id, name=record_id, domains=domains
    )


def answer(book: RecordBook, command: RecordCommand) -> RecordOutcome:
    outcome = apply(book, command)
    assert outcome is not None
    return outcome


def test_a_person_seen_in_many_items_is_created_once_with_their_company() -> None:
    book = RecordBook()
    for command in (seen(), seen(name="Ann Lee"), seen("bob@client.test"), seen()):
        assert apply(book, command) is None

    assert sorted(book.people) == sorted([person_id(WS, ANN), person_id(WS, "bob@client.test")])
    assert list(book.companies) == [company_id(WS, "client.test")]
    [company] = book.companies.values()
    assert company.name == "Client"
    assert {p.company_id for p in book.people.values()} == {company.company_id}


def test_a_personal_provider_makes_a_person_without_a_company() -> None:
    book = RecordBook()
    apply(book, seen("kim@gmail.com"))
    person = book.person_with(WS, "kim@gmail.com")
    assert person is not None
    assert person.company_id is None
    assert book.companies == {}


def test_an_item_that_may_not_create_creates_nobody() -> None:
    book = RecordBook()
    apply(book, seen(create=False, name="Ann Lee"))
    assert book.people == {}
    assert book.names_seen == {index_key(WS, ANN): "Ann Lee"}


def test_an_address_given_to_someone_by_hand_is_not_taken_by_auto_creation() -> None:
    book = RecordBook()
    answer(book, create("crm-ann", "other@elsewhere.test", ANN))
    apply(book, seen(name="Ann Lee"))
    assert list(book.people) == ["crm-ann"]


def test_a_company_made_by_hand_gets_the_people_of_its_domain() -> None:
    book = RecordBook()
    answer(book, company("crm-client", "Client.test"))
    apply(book, seen())
    person = book.person_with(WS, ANN)
    assert person is not None
    assert person.company_id == "crm-client"
    assert list(book.companies) == ["crm-client"]


def test_an_address_another_live_person_has_is_refused_with_its_owner() -> None:
    book = RecordBook()
    apply(book, seen())
    outcome = answer(book, create("crm-ann", ANN))
    assert (outcome.status, outcome.owner_id) == ("conflict", person_id(WS, ANN))
    assert "change or merge that person" in outcome.detail
    assert "crm-ann" not in book.people


def test_creating_an_id_that_exists_is_a_conflict() -> None:
    book = RecordBook()
    answer(book, create("p-1", ANN))
    outcome = answer(book, create("p-1", "other@client.test", command="c-again"))
    assert (outcome.status, outcome.owner_id) == ("conflict", "p-1")


def test_a_command_delivered_again_is_answered_as_the_first_time() -> None:
    book = RecordBook()
    first = answer(book, create("p-1", ANN))
    version = book.people["p-1"].updated_at
    again = answer(book, create("p-1", ANN))  # the same command id
    assert first.status == again.status == "done"
    assert again.records == first.records
    assert book.people["p-1"].updated_at == version


def test_another_workspaces_person_is_as_if_it_did_not_exist() -> None:
    book = RecordBook()
    answer(book, create("p-1", ANN))
    change = ChangePerson(command_id="c-2", workspace_id="ws-other", person_id="p-1", name="X")
    assert answer(book, change).status == "not_found"
    assert book.people["p-1"].name == "p-1"


def test_a_change_takes_new_addresses_and_gives_up_old_ones() -> None:
    book = RecordBook()
    answer(book, create("p-1", ANN))
    change = ChangePerson(
        command_id="c-2", workspace_id=WS, person_id="p-1", emails=("ann.home@gmail.com",)
    )
    [changed] = answer(book, change).records
    assert isinstance(changed, PersonUpserted)
    assert changed.emails == ("ann.home@gmail.com",)
    assert index_key(WS, ANN) not in book.addresses
    assert answer(book, create("p-2", ANN, command="c-3")).status == "done"  # free again


def test_an_unknown_company_is_an_invalid_input() -> None:
    book = RecordBook()
    answer(book, create("p-1", ANN))
    change = ChangePerson(
        command_id="c-2", workspace_id=WS, person_id="p-1", change_company=True, company_id="no"
    )
    outcome = answer(book, change)
    assert (outcome.status, outcome.field_name) == ("invalid", "company_id")


def test_merging_moves_the_addresses_and_points_the_other_at_the_survivor() -> None:
    book = RecordBook()
    answer(book, create("ann", ANN, command="c-1"))
    answer(book, create("home", "ann.home@gmail.com", command="c-2"))
    merge = MergePeople(command_id="c-3", workspace_id=WS, person_id="ann", absorbed_id="home")

    kept, gone = answer(book, merge).records

    assert isinstance(kept, PersonUpserted)
    assert isinstance(gone, PersonUpserted)
    assert kept.emails == (ANN, "ann.home@gmail.com")
    assert gone.merged_into == "ann"
    assert book.addresses[index_key(WS, "ann.home@gmail.com")] == "ann"
    again = merge.model_copy(update={"command_id": "c-4"})
    assert (answer(book, again).status, answer(book, again).field_name) == ("invalid", "from")
    # the merged person's address is the survivor's: a sighting names nobody new
    apply(book, seen("ann.home@gmail.com", name="Ann at home"))
    assert sorted(book.people) == ["ann", "home"]


def test_a_merge_refused_changes_nothing() -> None:
    book = RecordBook()
    answer(book, create("ann", ANN, command="c-1"))
    answer(book, create("home", "ann.home@gmail.com", command="c-2"))
    answer(book, create("bob", "bob@client.test", command="c-3"))
    book.addresses[index_key(WS, "ann.home@gmail.com")] = "bob"  # taken meanwhile
    merge = MergePeople(command_id="c-4", workspace_id=WS, person_id="ann", absorbed_id="home")

    assert answer(book, merge).status == "conflict"
    assert book.people["home"].merged_into is None


def test_a_domain_another_company_has_is_refused_and_a_domain_given_up_is_free() -> None:
    book = RecordBook()
    first = company("c-a", "a.test")
    answer(book, first)
    clash = first.model_copy(update={"command_id": "c-2", "company_id": "c-b"})
    assert answer(book, clash).status == "conflict"
    drop = ChangeCompany(command_id="c-3", workspace_id=WS, company_id="c-a", domains=())
    [changed] = answer(book, drop).records
    assert isinstance(changed, CompanyUpserted)
    assert changed.domains == ()
    assert answer(book, clash.model_copy(update={"command_id": "c-4"})).status == "done"


def test_an_address_given_up_by_hand_is_not_given_back_by_auto_creation() -> None:
    book = RecordBook()
    apply(book, seen())
    auto = person_id(WS, ANN)
    elsewhere = ChangePerson(
        command_id="c-1", workspace_id=WS, person_id=auto, emails=("a@b.test",)
    )
    answer(book, elsewhere)
    apply(book, seen(name="Ann Lee"))
    assert book.people[auto].emails == ("a@b.test",)
    assert book.person_with(WS, ANN) is None


def test_what_is_announced_is_every_version_changed_and_what_was_never_announced() -> None:
    book = RecordBook()
    apply(book, seen())
    assert {record_id(r) for r in book.to_announce()} == {
        person_id(WS, ANN),
        company_id(WS, "client.test"),
    }
    stored = RecordBook(
        people=dict(book.people),
        companies=dict(book.companies),
        addresses=dict(book.addresses),
        domains=dict(book.domains),
        announced={person_id(WS, ANN)},  # the company's announcement was lost in a crash
    )
    apply(stored, seen())
    assert [record_id(r) for r in stored.to_announce()] == [company_id(WS, "client.test")]


def test_a_change_delivered_again_after_a_crash_is_announced_again() -> None:
    book = RecordBook()
    answer(book, create("p-1", ANN))
    # Reloaded after a crash between storing and publishing: stored, never announced.
    reloaded = RecordBook(
        people=dict(book.people), addresses=dict(book.addresses), commands=dict(book.commands)
    )

    outcome = answer(reloaded, create("p-1", ANN))

    assert outcome.status == "done"
    assert [record_id(r) for r in reloaded.to_announce()] == ["p-1"]
    assert reloaded.changed == set()
