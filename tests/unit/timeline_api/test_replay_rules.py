"""The replay's pure rules: which copy version wins, what a job selects, whether a topic
still holds a range, how far a job has come, which settings changes reach history."""

from datetime import UTC, datetime, timedelta

from timeline_api.domain.copies import Known, is_current, takes
from timeline_api.domain.replay import (
    LogStart,
    ReplayJob,
    ReplayScope,
    kinds_for_account_change,
    kinds_of,
    missing_history,
    processed,
    settings_read,
    widen,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_a_newer_or_equal_version_of_a_copy_wins_and_an_older_one_does_nothing() -> None:
    known = Known(versions={"acc-a": T0})
    assert takes(known, "acc-a", T0 + timedelta(seconds=1))
    assert takes(known, "acc-a", T0), "a replay of the same version applies the rules again"
    assert not takes(known, "acc-a", T0 - timedelta(seconds=1))
    assert takes(known, "acc-b", T0 - timedelta(days=1)), "another mailbox's copy is its own"


def test_a_removal_is_the_newest_known_version_of_its_copy() -> None:
    known = Known(versions={}, withdrawn={"acc-a": T0})
    assert not takes(known, "acc-a", T0 - timedelta(minutes=5)), "an old version stays away"
    assert takes(known, "acc-a", T0)
    assert Known(versions={"a": T0}, withdrawn={"a": T0 + timedelta(1)}).latest("a") == T0 + (
        timedelta(1)
    )


def test_versions_are_compared_to_the_millisecond_a_store_keeps() -> None:
    stored = T0.replace(microsecond=123000)
    assert is_current(T0.replace(microsecond=123456), stored)
    assert is_current(None, stored)
    assert is_current(stored, None)


def test_a_scope_selects_its_workspace_and_account() -> None:
    assert ReplayScope().selects("ws-1", "acc-1")
    assert ReplayScope("ws-1").selects("ws-1", "acc-2")
    assert not ReplayScope("ws-1").selects("ws-2", "acc-1")
    assert ReplayScope("ws-1", "acc-1").selects("ws-1", "acc-1")
    assert not ReplayScope("ws-1", "acc-1").selects("ws-1", "acc-2")


def test_a_compacted_topic_holds_every_range() -> None:
    starts = [LogStart(0, 500, T0)]
    assert missing_history("crm.mail.raw.v1", "compact", starts, None) is None
    assert missing_history("crm.mail.raw.v1", "compact", starts, T0 - timedelta(days=90)) is None


def test_a_deleting_topic_that_dropped_records_refuses_a_range_before_its_first() -> None:
    starts = [LogStart(0, 0, None), LogStart(1, 700, T0)]
    refused = missing_history("crm.mail.raw.v1", "delete", starts, T0 - timedelta(days=1))
    assert refused is not None
    assert "crm.mail.raw.v1" in refused
    assert T0.isoformat() in refused
    assert missing_history("crm.mail.raw.v1", "delete", starts, None) is not None
    assert missing_history("crm.mail.raw.v1", "delete", starts, T0) is None
    assert missing_history("crm.mail.raw.v1", "compact,delete", starts, None) is not None


def test_a_deleting_topic_that_dropped_nothing_holds_everything() -> None:
    assert missing_history("t", "delete", [LogStart(0, 0, None), LogStart(1, 0, T0)], None) is None


def test_reading_progress_counts_the_ranges_taken_when_the_job_started() -> None:
    job = ReplayJob(
        job_id="j",
        kinds=("mail", "calendar"),
        requested_by="me",
        bounds={"mail": {0: (10, 20), 1: (0, 5)}, "calendar": {0: (3, 3)}},
        next={"mail": {0: 15}},
    )
    read = job.read()
    assert (read.done, read.total) == (5, 15)
    assert not job.copy_finished()
    done = job.model_copy(update={"next": {"mail": {0: 20, 1: 5}}})
    assert done.copy_finished()
    assert not ReplayJob(job_id="j", kinds=("mail",), requested_by="me").copy_finished()


def test_processing_progress_is_what_the_replay_groups_committed_of_what_was_written() -> None:
    written = {"mail": {0: (100, 110), 1: (0, 4)}}
    assert processed(written, {}).model_dump() == {"done": 0, "total": 14}
    half = processed(written, {"mail": {0: 105, 1: 9}})
    assert (half.done, half.total) == (9, 14)
    assert processed(written, {"mail": {0: 90}}).done == 0, "behind the job's first record"


def test_spans_written_grow_with_each_slice() -> None:
    assert widen({0: (10, 12)}, {0: (12, 20), 1: (3, 4)}) == {0: (10, 20), 1: (3, 4)}


def test_a_replay_starts_once_every_settings_reader_has_read_to_where_it_was_asked() -> None:
    asked = {0: 5, 1: 2}
    assert settings_read(asked, [{0: 5, 1: 2}, {0: 7, 1: 3}])
    assert not settings_read(asked, [{0: 5, 1: 2}, {0: 4, 1: 3}])
    assert not settings_read(asked, [{}]), "a reader that never committed has read nothing"


def test_mail_settings_reach_the_mail_and_the_blocklist_reaches_meetings_too() -> None:
    assert kinds_for_account_change({"exclude_folders"}, (), aliases=False) == ("mail",)
    assert kinds_for_account_change({"blocklist"}, (), aliases=False) == ("mail", "calendar")
    assert kinds_for_account_change((), {"visibility"}, aliases=False) == ("calendar",)
    assert kinds_for_account_change((), (), aliases=True) == ("mail",)
    assert kinds_for_account_change((), (), aliases=False) == ()
    assert kinds_of("both") == ("mail", "calendar")
