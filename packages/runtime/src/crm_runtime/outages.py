"""An unavailable dependency is not a message's fault (docs/adr/0030).

``unavailable`` reads an error and names the dependency it says is down: Kafka, MongoDB,
or whatever a service names by raising ``DependencyUnavailable``; None means the error is
the message's own. The delivery layer waits for a dependency that is down instead of
spending the message's attempts on it, and ``Outages`` logs when the process starts and
stops waiting for one: once per change, not once per retry.
"""

import logging
import time

from aiokafka import errors as kafka
from pymongo.errors import ConnectionFailure, OperationFailure

log = logging.getLogger(__name__)

KAFKA = "Kafka"
MONGODB = "MongoDB"

# Kafka errors that are about the cluster or the producer's session with it, never about
# one message, besides those aiokafka marks retriable (connections, leaders, coordinators).
_KAFKA_SIDE = (
    kafka.KafkaTimeoutError,  # a batch expired while no broker took it
    kafka.KafkaUnavailableError,
    kafka.BrokerNotAvailableError,
    kafka.ReplicaNotAvailableError,
    kafka.ProducerClosed,  # a producer dropped after an outage (crm_runtime.bus)
    kafka.OutOfOrderSequenceNumber,  # the idempotent producer's state lost by a restart
    kafka.UnknownProducerId,
    kafka.InvalidProducerEpoch,
)

# MongoDB's codes for a server that cannot serve now (shutting down, stepping down, a
# network error behind it): the ones its drivers retry. FerretDB on SQLite answers
# "database is locked" when a write waited longer than its busy timeout.
_MONGODB_TRANSIENT_CODES = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)
_SQLITE_BUSY = "SQLITE_BUSY"


class DependencyUnavailable(Exception):  # noqa: N818 - reads as the state it reports
    """Something every message needs cannot be reached right now (a provider API that
    answers 5xx or times out, a shared service that is down). Raised by a handler, the
    message waits for it with backoff, without spending its attempts and without being
    dead-lettered. Raise it only when waiting is the remedy, never for a bad message.
    """

    def __init__(self, dependency: str, detail: str = "") -> None:
        super().__init__(f"{dependency} is unavailable" + (f": {detail}" if detail else ""))
        self.dependency = dependency


def unavailable(error: BaseException | None) -> str | None:
    """The dependency ``error`` says is unavailable, or None when the error is the
    message's own. Looks through exception groups and explicit causes (``raise ... from``)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, BaseExceptionGroup):
            found = (unavailable(inner) for inner in error.exceptions)
            return next((name for name in found if name is not None), None)
        if isinstance(error, DependencyUnavailable):
            return error.dependency
        if isinstance(error, ConnectionFailure):  # also AutoReconnect, NetworkTimeout,
            return MONGODB  # ServerSelectionTimeoutError
        if isinstance(error, OperationFailure) and (
            error.code in _MONGODB_TRANSIENT_CODES or _SQLITE_BUSY in str(error)
        ):
            return MONGODB
        if isinstance(error, _KAFKA_SIDE) or (
            isinstance(error, kafka.KafkaError) and error.retriable
        ):
            return KAFKA
        error = error.__cause__
    return None


class Outages:
    """The dependencies one process is waiting for; logs each change of state once."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    @property
    def waiting_for(self) -> list[str]:
        """The dependencies some message is waiting for now."""
        return sorted(self._since)

    def waiting(self, dependency: str, error: BaseException) -> None:
        """A message found ``dependency`` unavailable; logged when it was not known yet."""
        if dependency in self._since:
            return
        self._since[dependency] = time.monotonic()
        log.warning(
            f"waiting for {dependency}: messages are held, not dead-lettered, until it is back",
            extra={"dependency": dependency, "error": repr(error)[:500]},
        )

    def back(self, dependency: str) -> None:
        """A message that waited for ``dependency`` went through; logged once."""
        since = self._since.pop(dependency, None)
        if since is not None:
            waited = round(time.monotonic() - since, 1)
            log.info(
                f"{dependency} is back after {waited} s",
                extra={"dependency": dependency, "waited_s": waited},
            )
