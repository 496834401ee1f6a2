"""A person's name does not depend on arrival order (issue 18): the records' writer applied
to every order of the same sightings ends with the same, best name; a name typed by
hand is never replaced."""

from itertools import combinations, permutations

import pytest

from crm_schemas.ids import person_id
from crm_schemas.record_commands import ChangePerson, CreatePerson, PersonSeen, RecordCommand
from enricher.owner.book import RecordBook
from enricher.owner.commands import apply
from enricher.rules.names import better_name, new_person_name, remembered_name

WS = "ws-names"
AMY = "amy.lee@client.test"
BARE_MEETING = PersonSeen(workspace_id=WS, email=AMY, create=True, company_domain="client.test")
SENT_MAIL = BARE_MEETING.model_copy(update={"display_name": "Amy B. Lee"})
RECEIVED_MAIL = SENT_MAIL.model_copy(update={"create": False})
BARE_RECEIVED = BARE_MEETING.model_copy(update={"create": False})
SIGHTINGS = {
    "bare meeting": BARE_MEETING,
    "sent mail": SENT_MAIL,
    "received mail": RECEIVED_MAIL,
    "bare received": BARE_RECEIVED,
}


def _orders() -> list[tuple[str, ...]]:
    """Every order of every set of sightings in which one of them may create Amy."""
    found = []
    for size in range(1, len(SIGHTINGS) + 1):
        for chosen in combinations(SIGHTINGS, size):
            if any(SIGHTINGS[s].create for s in chosen):
                found += permutations(chosen)
    return found


def _name(book: RecordBook) -> str:
    person = book.person_with(WS, AMY)
    assert person is not None
    return person.name


def _run(book: RecordBook, commands: list[RecordCommand]) -> RecordBook:
    for command in commands:
        apply(book, command)
    return book


@pytest.mark.parametrize("order", _orders(), ids=" then ".join)
def test_the_best_name_seen_wins_whatever_the_order(order: tuple[str, ...]) -> None:
    book = _run(RecordBook(), [SIGHTINGS[s] for s in order])

    named = any(SIGHTINGS[s].display_name for s in order)
    assert _name(book) == ("Amy B. Lee" if named else "Amy Lee")
    person = book.person_with(WS, AMY)
    assert person is not None
    assert person.name_from_address is not named
    assert list(book.people) == [person_id(WS, AMY)]  # one person, whatever the order


def _hand_named(position: int, order: tuple[str, ...]) -> list[RecordCommand]:
    """The sightings in ``order`` with a name typed by hand at ``position``."""
    amy = person_id(WS, AMY)
    typed = ChangePerson(command_id="c-1", workspace_id=WS, person_id=amy, name="Dr Lee")
    commands: list[RecordCommand] = [SIGHTINGS[s] for s in order]
    commands.insert(position, typed)
    return commands


@pytest.mark.parametrize("order", list(permutations(SIGHTINGS)), ids=" then ".join)
def test_a_name_typed_by_hand_is_never_replaced_whatever_comes_after(
    order: tuple[str, ...],
) -> None:
    first_create = next(i for i, s in enumerate(order) if SIGHTINGS[s].create)
    for position in range(first_create + 1, len(order) + 1):
        book = _run(RecordBook(), _hand_named(position, order))
        assert _name(book) == "Dr Lee", position


def test_a_person_created_by_hand_keeps_their_name_and_is_not_created_again() -> None:
    by_hand = CreatePerson(
        command_id="c-1", workspace_id=WS, person_id="crm-amy", name="Amy (CRM)", emails=(AMY,)
    )
    book = _run(RecordBook(), [by_hand, *SIGHTINGS.values()])

    assert _name(book) == "Amy (CRM)"
    assert list(book.people) == ["crm-amy"]


def test_of_two_display_names_the_first_one_stays() -> None:
    other = SENT_MAIL.model_copy(update={"display_name": "A. Lee (Client)"})
    assert _name(_run(RecordBook(), [BARE_MEETING, SENT_MAIL, other])) == "Amy B. Lee"
    assert _name(_run(RecordBook(), [RECEIVED_MAIL, other, BARE_MEETING])) == "Amy B. Lee"


def test_a_sighting_delivered_twice_changes_nothing_more() -> None:
    book = _run(RecordBook(), [BARE_MEETING, SENT_MAIL])
    person = book.person_with(WS, AMY)
    book.changed.clear()

    _run(book, [BARE_MEETING, SENT_MAIL])

    assert book.person_with(WS, AMY) == person
    assert book.changed == set()


def test_the_name_rules_alone() -> None:
    assert new_person_name(None, None, AMY) == ("Amy Lee", True)
    assert new_person_name("Amy B. Lee", None, AMY) == ("Amy B. Lee", False)
    assert new_person_name("Someone Else", "Amy B. Lee", AMY) == ("Amy B. Lee", False)
    assert remembered_name(None, "'Amy B. Lee'") == "Amy B. Lee"
    assert remembered_name("Amy B. Lee", "Other") is None
    assert remembered_name(None, "amy.lee@client.test") is None  # an address is no name
    book = _run(RecordBook(), [BARE_MEETING])
    auto = book.person_with(WS, AMY)
    assert auto is not None
    assert better_name(auto, "Amy B. Lee") == "Amy B. Lee"
    assert better_name(auto, None) is None
    assert better_name(auto.model_copy(update={"created_by": "api"}), "Amy B. Lee") is None
