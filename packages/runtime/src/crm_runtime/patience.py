"""How long one message is tried: its own failures count, an outage only waits.

The delivery layer's tenacity ``stop`` and ``wait`` for one message (or one poll handled
in bulk), by what the last error says (docs/adr/0004, docs/adr/0030):

- a dependency that is down (``crm_runtime.outages.unavailable``): wait with capped
  exponential backoff, without counting an attempt. After ``outage_hold_s`` of waiting,
  stop with ``StillUnavailable``: the consumer hands its poll back to Kafka and polls it
  again, so it keeps its place in the consumer group (``max.poll.interval``). It stops
  sooner, between two tries, once ``release()`` says the poll's partitions are being
  taken away by a rebalance or the service is stopping (crm_runtime.health);
- ``RetryLater`` (a config not arrived yet): wait up to ``retry_later_max_s``;
- anything else is the message's own failure: ``handler_attempts`` of them and it is
  dead-lettered (or, in bulk, the poll is handled one record at a time at once).
"""

import logging
import time
from collections.abc import Awaitable, Callable

from tenacity import RetryCallState

from crm_runtime.outages import Outages, unavailable
from crm_runtime.settings import ServiceSettings

log = logging.getLogger(__name__)
OUTAGE_FIRST_WAIT_S = 0.5


class RetryLater(Exception):  # noqa: N818 - reads as the instruction it is
    """The handler cannot do its work yet (e.g. a config it needs has not arrived).

    Retried for up to ``retry_later_max_s`` rather than ``handler_attempts`` times: the
    config topic may still be catching up after a deployment or during a replay.
    """


class StillUnavailable(Exception):  # noqa: N818 - reads as the state it reports
    """A message waited ``outage_hold_s`` for a dependency: its poll goes back to Kafka
    uncommitted and comes again; nothing is dead-lettered."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"still waiting for {dependency}")
        self.dependency = dependency


def released(error: BaseException) -> bool:
    """Whether ``error`` only says that work was handed back to wait for a dependency."""
    if isinstance(error, BaseExceptionGroup):
        return all(released(inner) for inner in error.exceptions)
    return isinstance(error, StillUnavailable)


class Patience:
    """Tenacity's ``stop`` and ``wait`` for one message; see the module's docstring.

    ``own_failures`` is how many failures of the message's own are tried (1 for a poll
    handled in bulk, which falls back to one record at a time).
    """

    def __init__(
        self,
        settings: ServiceSettings,
        outages: Outages,
        own_failures: int,
        on_hold: Callable[[str], Awaitable[None]] | None = None,
        release: Callable[[], bool] | None = None,
    ) -> None:
        self._settings = settings
        self._release = release
        self._outages = outages
        self._own_failures = own_failures
        self._on_hold = on_hold
        self._held = False
        self._judged = 0  # the attempt whose outcome is counted below
        self._failures = 0
        self.attempts = 0  # attempts that did not only wait for a dependency
        self._waits = 0
        self._waiting_since: float | None = None
        self._later_since: float | None = None
        self._waited_for: set[str] = set()

    def stop(self, state: RetryCallState) -> bool:
        """Whether to give up after this attempt."""
        error = self._judge(state)
        now = time.monotonic()
        if unavailable(error) is not None:
            assert self._waiting_since is not None
            if self._release is not None and self._release():
                return True
            return now - self._waiting_since >= self._settings.outage_hold_s
        if isinstance(error, RetryLater):
            assert self._later_since is not None
            return now - self._later_since >= self._settings.retry_later_max_s
        return self._failures >= self._own_failures

    def wait(self, state: RetryCallState) -> float:
        """How long to sleep before the next attempt."""
        error = self._judge(state)
        if unavailable(error) is not None:
            backoff = OUTAGE_FIRST_WAIT_S * 2.0 ** (self._waits - 1)
            return min(self._settings.outage_max_wait_s, backoff)
        tries = max(self._failures, 1)
        return min(self._settings.retry_max_wait_s, 0.2 * 2.0 ** (tries - 1))

    async def before_sleep(self, state: RetryCallState) -> None:
        """Tell ``on_hold`` once that the message waits for a dependency (best effort:
        the dependency that is down may be the one that would carry the news)."""
        dependency = unavailable(self._judge(state))
        if dependency is None or self._held or self._on_hold is None:
            return
        self._held = True
        try:
            await self._on_hold(dependency)
        except Exception as error:
            log.info(
                "could not report a message on hold",
                extra={"dependency": dependency, "error": repr(error)},
            )

    def succeeded(self) -> None:
        """The message went through: every dependency it waited for is back."""
        for dependency in self._waited_for:
            self._outages.back(dependency)

    def gave_up(self, error: BaseException | None) -> None:
        """Raise ``StillUnavailable`` when the last error was an outage."""
        dependency = unavailable(error)
        if dependency is not None:
            raise StillUnavailable(dependency) from error

    def _judge(self, state: RetryCallState) -> BaseException | None:
        """The attempt's error, counted once (tenacity asks ``wait`` and ``stop`` each)."""
        error = state.outcome.exception() if state.outcome is not None else None
        if state.attempt_number == self._judged:
            return error
        self._judged = state.attempt_number
        dependency = unavailable(error)
        if dependency is not None and error is not None:
            self._outages.waiting(dependency, error)
            self._waited_for.add(dependency)
            self._waits += 1
            if self._waiting_since is None:
                self._waiting_since = time.monotonic()
            return error
        self._waits, self._waiting_since = 0, None
        self.attempts += 1
        if isinstance(error, RetryLater):
            self._later_since = self._later_since or time.monotonic()
        else:
            self._failures += 1
        return error
