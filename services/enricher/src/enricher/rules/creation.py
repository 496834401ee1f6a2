"""Who becomes a person by auto-creation, per the account's setting."""

from crm_schemas.config import ContactCreation
from crm_schemas.mail import Participant


def creates_people_from_message(policy: ContactCreation, sent_by_owner: bool) -> bool:
    """Whether a message's participants may become people.

    ``sent_only`` (the default) only creates the people the owner wrote to: the people
    you write to are the people you work with.
    """
    if policy is ContactCreation.NONE:
        return False
    return policy is ContactCreation.SENT_AND_RECEIVED or sent_by_owner


def may_become_person(participant: Participant, owner_addresses: frozenset[str]) -> bool:
    """Internal participants and the owner never become people by auto-creation."""
    return not participant.internal and participant.email not in owner_addresses
