"""The summary of `make bench`: every declared figure next to its goal and baseline, and a
benchmark that did not report what it declared counted as broken."""

import json
from pathlib import Path

from benchmarks.figures import Declared, Result, at_least, at_most
from benchmarks.summary import Outcome, Summary, number, times

RATE = Declared("msgs_per_s", "msg/s", at_least(0.7, "issue 3", of_baseline=True), "bare")
CPU = Declared("cpu_ms_per_msg", "ms", at_most(3.0, "issue 15"))
RSS = Declared("peak_rss_mb", "MB")


def test_a_goal_on_the_ratio_reads_the_value_against_its_baseline() -> None:
    assert RATE(700, baseline=1000).goal_met is True
    assert RATE(699, baseline=1000).goal_met is False
    assert RATE(700, baseline=1000).ratio == 0.7


def test_a_goal_on_the_value_reads_the_value_alone() -> None:
    assert CPU(2.9, baseline=0.1).goal_met is True
    assert CPU(3.1).goal_met is False


def test_without_a_baseline_a_ratio_goal_cannot_be_told() -> None:
    assert RATE(700).goal_met is None
    assert RATE(700, baseline=0).ratio is None


def test_a_figure_without_a_goal_has_none_to_meet() -> None:
    assert RSS(104).goal_met is None


def test_a_benchmark_that_reports_every_figure_it_declares_is_not_broken() -> None:
    outcome = Outcome("mail", (RATE, CPU), result=Result((CPU(6.2), RATE(270, 12_536))))

    assert outcome.problems() == []
    assert [row.name for row in outcome.rows()] == ["msgs_per_s", "cpu_ms_per_msg"]


def test_a_declared_figure_not_reported_is_a_problem() -> None:
    outcome = Outcome("mail", (RATE, CPU), result=Result((RATE(270, 12_536),)))

    assert outcome.problems() == ["cpu_ms_per_msg: declared, not reported"]
    assert "MISSING" in Summary(outcomes=[outcome]).table()


def test_a_figure_reported_but_not_declared_is_a_problem() -> None:
    outcome = Outcome("mail", (RATE,), result=Result((RATE(270, 12_536), RSS(104))))

    assert outcome.problems() == ["peak_rss_mb: reported, not declared"]


def test_a_figure_that_is_not_a_number_is_a_problem() -> None:
    outcome = Outcome("mail", (RATE,), result=Result((RATE(float("nan"), 12_536),)))

    assert outcome.problems() == ["msgs_per_s: nan is not a number"]


def test_a_benchmark_that_raised_is_broken_and_its_figures_shown_missing() -> None:
    outcome = Outcome("mail", (RATE,), error="RuntimeError: no message reached mail.raw")
    summary = Summary(outcomes=[outcome])

    assert summary.broken() == ["mail: RuntimeError: no message reached mail.raw"]
    assert "MISSING" in summary.table()


def test_the_table_shows_each_figure_next_to_its_goal_baseline_and_ratio() -> None:
    outcome = Outcome(
        "mail", (RATE, CPU, RSS), result=Result((RATE(270, 12_536), CPU(6.2), RSS(104)))
    )

    lines = Summary(outcomes=[outcome]).table().splitlines()

    assert lines[0].split() == [
        "benchmark",
        "figure",
        "value",
        "unit",
        "goal",
        "baseline",
        "ratio",
        "met",
    ]
    assert lines[2].split() == [
        "mail",
        "msgs_per_s",
        "270.0",
        "msg/s",
        ">=",
        "0.7x",
        "baseline",
        "12,536",
        "0.0215",
        "no",
    ]
    assert lines[3].split() == [
        "mail",
        "cpu_ms_per_msg",
        "6.2",
        "ms",
        "<=",
        "3",
        "ms",
        "-",
        "-",
        "no",
    ]
    assert lines[4].split() == ["mail", "peak_rss_mb", "104.0", "MB", "-", "-", "-", "-"]


def test_summary_json_holds_every_figure_with_its_goal_and_baseline(tmp_path: Path) -> None:
    outcome = Outcome("mail", (RATE, CPU), wall_s=74.1, result=Result((RATE(270, 12_536),)))
    path = tmp_path / "summary.json"

    Summary(outcomes=[outcome]).write(path, {"BENCH_MAIL_MESSAGES": "20000"}, "b9d55b3")

    written = json.loads(path.read_text())
    assert written["sizes"] == {"BENCH_MAIL_MESSAGES": "20000"}
    assert written["benchmarks"]["mail"] == {
        "wall_s": 74.1,
        "problems": ["cpu_ms_per_msg: declared, not reported"],
    }
    rate, cpu = written["figures"]
    assert (rate["value"], rate["baseline"], rate["goal_met"]) == (270, 12_536, False)
    assert (rate["goal"]["source"], rate["against"]) == ("issue 3", "bare")
    assert (cpu["value"], cpu["goal"]["text"]) == (None, "<= 3 ms")


def test_numbers_read_with_a_few_digits() -> None:
    assert [number(v) for v in (12_536.4, 269.94, 6.2, 0.0821, 0.0, None)] == [
        "12,536", "269.9", "6.2", "0.0821", "0", "-",
    ]  # fmt: skip


def test_ratios_near_one_keep_three_decimals() -> None:
    assert [times(r) for r in (1.004, 8.0, 0.988, 0.000494, 24.32, None)] == [
        "1.004", "8", "0.988", "0.000494", "24.3", "-",
    ]  # fmt: skip
