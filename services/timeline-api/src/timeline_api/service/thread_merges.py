"""The projection of timeline.messages: messages, and threads that proved to be one.

A poll holds messages (``TimelineMessage``) and withdrawn copies (``RawMessageRemoved``),
merges (``ThreadsMerged``: keyed by the thread that goes) and absorptions
(``ThreadAbsorbed``: the projection's own, keyed by the thread that stays). In that poll,
in this order:

1. each merged thread is redirected to the thread it merged into;
2. messages and withdrawals of threads that did not merge are applied in their order
   (``Projection.messages``), the others sent on to the thread theirs merged into, as are
   absorptions for a thread that merged on;
3. absorptions are done: the messages of the merged thread move into this one, which is
   summarised again, and the read model hears of both (``TimelineFeed.threads_replaced``);
4. each merged thread asks the thread it merged into to absorb it.

A merged thread's messages stored in step 2 of the same poll are in before step 4 asks
for them, and anything that comes for it later is sent on: the absorption misses none.
Every step is idempotent (redirects insert-only, moves by id, summaries recomputed).
"""

from crm_schemas.mail import RawMessageRemoved, ThreadsMerged, TimelineMessage
from timeline_api.domain.thread_merges import ThreadAbsorbed, absorptions, route_mail
from timeline_api.ports.timelines import MailOutbox, ThreadChange, ThreadMerges, TimelineFeed
from timeline_api.service.projection import Projection

MailEvent = TimelineMessage | RawMessageRemoved | ThreadsMerged | ThreadAbsorbed


class MailProjection:
    """timeline.messages into the read model, merges of threads included."""

    def __init__(
        self,
        projection: Projection,
        merges: ThreadMerges,
        feed: TimelineFeed,
        onwards: MailOutbox,
    ) -> None:
        self._projection = projection
        self._merges = merges
        self._feed = feed
        self._onwards = onwards

    async def mail(self, events: list[MailEvent]) -> None:
        """A poll of timeline.messages (see the module's steps)."""
        merged = [e for e in events if isinstance(e, ThreadsMerged)]
        absorbs = [e for e in events if isinstance(e, ThreadAbsorbed)]
        messages = [e for e in events if isinstance(e, TimelineMessage | RawMessageRemoved)]
        if merged:
            await self._merges.redirect_threads(
                {m.from_thread_id: m.into_thread_id for m in merged}
            )
        asked = {m.thread_id for m in messages} | {a.into_thread_id for a in absorbs}
        redirects = await self._merges.thread_redirects(asked) if asked else {}
        routed = route_mail(messages, absorbs, redirects)
        if routed.stay:
            await self._projection.messages(routed.stay)
        changes: list[ThreadChange] = []
        for absorb in routed.absorb:
            changes += await self._merges.absorb_thread(
                absorb.into_thread_id, absorb.from_thread_id
            )
        if changes:
            await self._feed.threads_replaced(changes)
        outgoing = routed.onwards + absorptions(merged)
        if outgoing:
            await self._onwards(outgoing)

    async def one(self, event: MailEvent) -> None:
        """One event, when its poll could not be handled at once."""
        await self.mail([event])
