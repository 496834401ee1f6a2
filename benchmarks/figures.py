"""The shape in which every benchmark reports its figures, and how a figure reads against
its goal and its baseline.

A benchmark module declares the figures it reports before it runs (``FIGURES``, a tuple of
``Declared``: name, unit, goal, what the baseline is) and returns them measured
(``Result.figures``: name, value, unit, goal, baseline). The summary of ``make bench``
shows every declared figure of every benchmark, whatever it is; nothing in it names one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Goal:
    """What a figure should reach: a bound on its value, or on its ratio to the baseline
    (``of_baseline``), and where the goal was set (an issue, ARCHITECTURE.md)."""

    bound: float
    higher_is_better: bool
    source: str
    of_baseline: bool = False

    def met(self, value: float, baseline: float | None) -> bool | None:
        """Whether the figure reaches the goal; None when it cannot be told (no baseline)."""
        measured = ratio(value, baseline) if self.of_baseline else value
        if measured is None:
            return None
        return measured >= self.bound if self.higher_is_better else measured <= self.bound

    def describe(self, unit: str) -> str:
        """The goal for a person: ``<= 3 ms``, ``>= 0.7x baseline``."""
        sign = ">=" if self.higher_is_better else "<="
        return f"{sign} {self.bound:g}{'x baseline' if self.of_baseline else ' ' + unit}"


def at_least(bound: float, source: str, *, of_baseline: bool = False) -> Goal:
    """A goal the figure should reach or pass (a rate)."""
    return Goal(bound, higher_is_better=True, source=source, of_baseline=of_baseline)


def at_most(bound: float, source: str, *, of_baseline: bool = False) -> Goal:
    """A goal the figure should stay under (a latency, CPU, memory)."""
    return Goal(bound, higher_is_better=False, source=source, of_baseline=of_baseline)


def ratio(value: float, baseline: float | None) -> float | None:
    """``value / baseline``; None without a usable baseline."""
    if baseline is None or baseline == 0 or not math.isfinite(baseline):
        return None
    return value / baseline


@dataclass(frozen=True)
class Figure:
    """One figure as a benchmark reports it. ``baseline`` is the bare figure measured in
    the same run, in the same unit (None where there is none)."""

    name: str
    value: float
    unit: str
    goal: Goal | None = None
    baseline: float | None = None

    @property
    def ratio(self) -> float | None:
        return ratio(self.value, self.baseline)

    @property
    def goal_met(self) -> bool | None:
        return None if self.goal is None else self.goal.met(self.value, self.baseline)


@dataclass(frozen=True)
class Declared:
    """A figure a benchmark promises to report, known before it runs: calling it with the
    measured value (and baseline) makes the figure."""

    name: str
    unit: str
    goal: Goal | None = None
    against: str = ""  # what the baseline is, for the reader ("bare UID FETCH")

    def __call__(self, value: float, baseline: float | None = None) -> Figure:
        return Figure(self.name, float(value), self.unit, self.goal, baseline)


@dataclass(frozen=True)
class Result:
    """What a benchmark's ``run`` returns: its figures, and every number it measured
    (written to ``.bench/<name>.json`` as they are)."""

    figures: tuple[Figure, ...]
    details: dict[str, float | int | str] = field(default_factory=dict)
