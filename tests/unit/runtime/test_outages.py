"""Which errors are an outage, how long a message waits, and what is logged about it."""

import logging
from typing import Any

import pytest
from aiokafka import errors as kafka
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    NetworkTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
)
from tenacity import RetryCallState

from crm_runtime.logs import Repeats
from crm_runtime.outages import KAFKA, MONGODB, DependencyUnavailable, Outages, unavailable
from crm_runtime.patience import Patience, RetryLater, StillUnavailable, released
from crm_runtime.settings import ServiceSettings


@pytest.mark.parametrize(
    ("error", "dependency"),
    [
        (kafka.KafkaConnectionError("Unable to bootstrap from [...]"), KAFKA),
        (kafka.KafkaTimeoutError(), KAFKA),
        (kafka.NodeNotReadyError(), KAFKA),
        (kafka.NotLeaderForPartitionError(), KAFKA),
        (kafka.RequestTimedOutError(), KAFKA),
        (kafka.ProducerClosed(), KAFKA),
        (ServerSelectionTimeoutError("no servers"), MONGODB),
        (AutoReconnect("connection reset"), MONGODB),
        (NetworkTimeout("timed out"), MONGODB),
        (OperationFailure("shutdown in progress", code=91), MONGODB),
        (OperationFailure("database is locked (5) (SQLITE_BUSY)", code=1), MONGODB),
        (DependencyUnavailable("the Gmail API", "HTTP 503"), "the Gmail API"),
    ],
)
def test_an_unreachable_dependency_is_named(error: Exception, dependency: str) -> None:
    assert unavailable(error) == dependency


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a date in the year 10000"),
        kafka.MessageSizeTooLargeError(),
        DuplicateKeyError("E11000"),
        OperationFailure("unknown operator $lookup"),
        RetryLater("config on its way"),
        ConnectionError("a socket of the handler's own"),
        None,
    ],
)
def test_a_failure_of_the_message_itself_is_not_an_outage(error: Exception | None) -> None:
    assert unavailable(error) is None


def test_an_outage_is_found_inside_a_group_and_behind_a_cause() -> None:
    wrapped = RuntimeError("could not save the cursor")
    wrapped.__cause__ = AutoReconnect("gone")
    assert unavailable(wrapped) == MONGODB
    group = ExceptionGroup("poll", [ValueError("bad"), wrapped])
    assert unavailable(group) == MONGODB


def test_only_hand_backs_count_as_released() -> None:
    assert released(StillUnavailable(KAFKA))
    assert released(ExceptionGroup("poll", [StillUnavailable(KAFKA), StillUnavailable(MONGODB)]))
    assert not released(ExceptionGroup("poll", [StillUnavailable(KAFKA), ValueError("bad")]))
    assert not released(ValueError("bad"))


class Attempt:
    """Plays tenacity's side: one RetryCallState per failed attempt."""

    def __init__(self, patience: Patience) -> None:
        self.patience = patience
        self.number = 0

    def fails(self, error: BaseException) -> tuple[bool, float]:
        """Whether tenacity stops, and how long it waits (it asks wait, then stop)."""
        self.number += 1
        state: Any = RetryCallState.__new__(RetryCallState)
        state.attempt_number = self.number
        state.outcome = _Failed(error)
        wait = self.patience.wait(state)
        return self.patience.stop(state), wait


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self._error = error

    def exception(self) -> BaseException:
        return self._error


def settings(**values: Any) -> ServiceSettings:
    return ServiceSettings(handler_attempts=3, retry_max_wait_s=5, **values)


def test_an_outage_waits_with_capped_backoff_and_spends_no_attempt() -> None:
    patience = Patience(settings(outage_max_wait_s=4, outage_hold_s=250), Outages(), 3)
    attempt = Attempt(patience)
    waits = [attempt.fails(AutoReconnect("down")) for _ in range(6)]
    assert [stop for stop, _ in waits] == [False] * 6
    assert [wait for _, wait in waits] == [0.5, 1, 2, 4, 4, 4]
    assert attempt.fails(ValueError("bad")) == (False, 0.2)
    assert attempt.fails(ValueError("bad"))[0] is False
    assert attempt.fails(ValueError("bad"))[0] is True  # the third of its own
    assert patience.attempts == 3


def test_an_outage_longer_than_the_hold_stops_to_hand_the_poll_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr("crm_runtime.patience.time.monotonic", lambda: clock[0])
    patience = Patience(settings(outage_hold_s=60), Outages(), 3)
    attempt = Attempt(patience)
    assert attempt.fails(kafka.KafkaConnectionError())[0] is False
    clock[0] += 59
    assert attempt.fails(kafka.KafkaConnectionError())[0] is False
    clock[0] += 2
    assert attempt.fails(kafka.KafkaConnectionError())[0] is True
    with pytest.raises(StillUnavailable, match="Kafka"):
        patience.gave_up(kafka.KafkaConnectionError())
    patience.gave_up(ValueError("bad"))  # a failure of its own is not handed back


def test_a_rebalance_or_a_shutdown_hands_a_waiting_poll_back_before_the_hold_ends() -> None:
    leaving = [False]
    patience = Patience(settings(outage_hold_s=60), Outages(), 3, release=lambda: leaving[0])
    attempt = Attempt(patience)
    assert attempt.fails(AutoReconnect("down"))[0] is False
    leaving[0] = True  # its partitions are being revoked, or the service is stopping
    assert attempt.fails(AutoReconnect("down"))[0] is True
    with pytest.raises(StillUnavailable, match="MongoDB"):
        patience.gave_up(AutoReconnect("down"))


def test_a_message_failing_on_its_own_is_not_handed_back_by_a_rebalance() -> None:
    patience = Patience(settings(), Outages(), 3, release=lambda: True)
    attempt = Attempt(patience)
    assert attempt.fails(ValueError("bad"))[0] is False  # its attempts go on as before
    assert attempt.fails(RetryLater("config on its way"))[0] is False


@pytest.mark.parametrize(
    ("values", "refused"),
    [
        ({"consumer_heartbeat_interval_ms": 6_000}, "CONSUMER_HEARTBEAT_INTERVAL_MS"),
        ({"handler_stall_s": 400}, "HANDLER_STALL_S must be at most"),
        ({"outage_hold_s": 300}, "OUTAGE_HOLD_S must be shorter than MATCHER_HANDLER_STALL_S"),
        ({"outage_max_wait_s": 10}, "OUTAGE_MAX_WAIT_S must be shorter than"),
    ],
)
def test_consumer_timeouts_that_disagree_are_refused_at_start(
    values: dict[str, float], refused: str
) -> None:
    class MatcherLike(ServiceSettings):
        model_config = SettingsConfigDict(env_prefix="MATCHER_")

    MatcherLike()  # the defaults agree
    with pytest.raises(ValidationError, match=refused):
        MatcherLike(**values)


def test_waiting_and_coming_back_are_logged_once_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="crm_runtime.outages")
    outages = Outages()
    messages = [Attempt(Patience(settings(), outages, 3)) for _ in range(50)]
    for _ in range(3):  # fifty messages wait, each retried three times
        for message in messages:
            message.fails(ServerSelectionTimeoutError("no servers"))
    assert outages.waiting_for == [MONGODB]
    for message in messages:
        message.patience.succeeded()
    assert outages.waiting_for == []
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2, logged
    assert logged[0].startswith("waiting for MongoDB")
    assert logged[1].startswith("MongoDB is back after")


def test_a_chatty_librarys_repeats_are_held_back(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr("crm_runtime.logs.time.monotonic", lambda: clock[0])
    repeats = Repeats(("aiokafka",), every_s=60)

    def record(name: str, port: int) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, "", 0, "Unable connect to %s", (port,), None)

    assert repeats.filter(record("aiokafka", 1))
    assert not any(repeats.filter(record("aiokafka", n)) for n in range(300))
    assert repeats.filter(record("crm_runtime.delivery", 1))  # ours always pass
    clock[0] = 61
    again = record("aiokafka", 2)
    assert repeats.filter(again)
    assert again.repeated == 300  # type: ignore[attr-defined]
