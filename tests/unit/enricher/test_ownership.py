"""Who may take an address or a domain."""

from enricher.rules.ownership import Claim, conflicting


def test_an_address_of_another_live_person_conflicts() -> None:
    claim = Claim("ann@client.test", "p2", False)
    assert conflicting([claim], "p1") == claim


def test_an_address_of_the_person_being_absorbed_is_free_for_the_survivor() -> None:
    assert conflicting([Claim("ann.home@gmail.com", "p2", False)], "p1", absorbing="p2") is None


def test_free_own_and_merged_away_addresses_do_not_conflict() -> None:
    claims = [
        Claim("a@x.test", None, False),
        Claim("b@x.test", "p1", False),
        Claim("c@x.test", "p3", True),
    ]
    assert conflicting(claims, "p1") is None
