"""Which conversation a message belongs to: joined on any Message-ID it shares with
another message, the way the JWZ threading algorithm joins them (docs/adr/0027).

Every message *claims* a root: its first ``References`` id, else its ``In-Reply-To``,
else its own id (what the thread id was named after before). Messages that share any
id (their own, one they reply to, one they reference) are one conversation, across the
mailboxes of a workspace, and its thread is named after the smallest root its messages
claim: in the common case every message claims the same root, so the id is the one it
always was, and whatever order the messages arrive in, the last one leaves the same id.

The matcher keeps what it learnt in an index of its own (``matcher.conversations``): for each
Message-ID, the root it was first seen under (an *entry*), and for each root that joined
a smaller one, that smaller root (a *link*). Both are only ever inserted, never changed,
so replicas racing on one conversation converge: a lost insert is read back and joined.
The functions here decide, over what was read, what to insert; they do no I/O.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from crm_schemas.ids import message_id_key
from crm_schemas.mail import RawMessage


@dataclass(frozen=True, slots=True)
class Claim:
    """What one message brings: the root it claims and every Message-ID it names (its
    own first), each in the form ids are compared in (``message_id_key``)."""

    root: str
    keys: tuple[str, ...]


def claim_of(message: RawMessage) -> Claim:
    """The message's claimed root and the ids it links to."""
    own = message_id_key(message.message_id)
    named = [own, *(message_id_key(r) for r in message.references)]
    if message.in_reply_to:
        named.append(message_id_key(message.in_reply_to))
    keys = tuple(dict.fromkeys(k for k in named if k))
    if message.references and message_id_key(message.references[0]):
        root = message_id_key(message.references[0])
    elif message.in_reply_to and message_id_key(message.in_reply_to):
        root = message_id_key(message.in_reply_to)
    else:
        root = own
    return Claim(root, keys)


@dataclass(frozen=True, slots=True)
class Known:
    """What the index holds of a batch's ids: the root of each id seen before
    (``entries``), and for each root that joined a smaller one, that root (``links``)."""

    entries: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)


def surviving_root(root: str, links: Mapping[str, str]) -> str:
    """Where a root's conversation is now: its links followed to the end."""
    while root in links:
        root = links[root]
    return root


def roots_to_read(claims: Iterable[Claim], known: Known) -> set[str]:
    """The roots whose links must be read before planning: the claimed ones, those of
    the entries, and every root the known links lead to, not read yet."""
    roots = {c.root for c in claims} | set(known.entries.values())
    roots |= set(known.links.values())
    return {r for r in roots if r not in known.links}


@dataclass(frozen=True, slots=True)
class Plan:
    """What a batch inserts into the index, and the root each message's thread is
    named after once it is in (in the order of the claims)."""

    entries: dict[str, str]
    links: dict[str, str]
    roots: list[str]


def plan_threads(claims: Sequence[Claim], known: Known) -> Plan:
    """Join each message's ids to the conversations they are already in.

    An id seen for the first time becomes an entry under the message's claimed root; the
    message's claimed root and the roots of its known ids are then one conversation: each
    of their surviving roots but the smallest is linked to the smallest. ``known`` must
    hold every link of the roots it names (``roots_to_read`` until none is left).
    """
    entries, links = dict(known.entries), dict(known.links)
    new_entries: dict[str, str] = {}
    new_links: dict[str, str] = {}
    for claim in claims:
        roots = {claim.root}
        for key in claim.keys:
            if key in entries:
                roots.add(entries[key])
            else:
                entries[key] = new_entries[key] = claim.root
        survivors = {surviving_root(r, links) for r in roots}
        smallest = min(survivors)
        for other in survivors - {smallest}:
            links[other] = new_links[other] = smallest
    return Plan(new_entries, new_links, [surviving_root(c.root, links) for c in claims])
