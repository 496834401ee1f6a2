"""The one summary of a `make bench` run: every benchmark's declared figures next to their
goals and baselines, as a table for the terminal and as ``summary.json``.

Nothing here knows a benchmark: it reads what each declared (``FIGURES``) and what its run
returned (``Result``). A declared figure the run did not return is shown as MISSING, a
figure returned but never declared is shown as well, and either counts the benchmark as
broken.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.figures import Declared, Figure, Result


@dataclass
class Outcome:
    """One benchmark of the run: what it declared and, unless it failed, what it returned."""

    name: str
    declared: tuple[Declared, ...]
    wall_s: float = 0.0
    result: Result | None = None
    error: str | None = None

    def rows(self) -> list[Row]:
        """Each declared figure with what the run reported of it (None: nothing), then any
        figure the run reported without declaring it."""
        returned = {f.name: f for f in self.result.figures} if self.result else {}
        known = {d.name for d in self.declared}
        rows = [Row(self.name, d, returned.get(d.name)) for d in self.declared]
        return rows + [Row(self.name, None, f) for n, f in returned.items() if n not in known]

    def problems(self) -> list[str]:
        """Why the benchmark counts as broken: its error, figures missing or undeclared,
        values that are not numbers."""
        if self.error is not None:
            return [self.error]
        return [problem for row in self.rows() if (problem := row.problem())]


@dataclass(frozen=True)
class Row:
    """One line of the summary: a declared figure and what was measured of it."""

    benchmark: str
    declared: Declared | None
    figure: Figure | None

    @property
    def shape(self) -> Figure | Declared:
        shape = self.figure or self.declared
        if shape is None:
            raise ValueError("a row needs a figure or a declaration")
        return shape

    @property
    def name(self) -> str:
        return self.shape.name

    def problem(self) -> str | None:
        if self.figure is None:
            return f"{self.name}: declared, not reported"
        if self.declared is None:
            return f"{self.name}: reported, not declared"
        if not math.isfinite(self.figure.value):
            return f"{self.name}: {self.figure.value} is not a number"
        return None

    def cells(self) -> tuple[str, ...]:
        shape = self.shape
        goal = shape.goal.describe(shape.unit) if shape.goal else "-"
        if self.figure is None:
            return (self.benchmark, self.name, "MISSING", shape.unit, goal, "-", "-", "-")
        ratio = self.figure.ratio
        met = {None: "-", True: "yes", False: "no"}[self.figure.goal_met]
        return (
            self.benchmark, self.name, number(self.figure.value), shape.unit, goal,
            number(self.figure.baseline), times(ratio), met,
        )  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        shape, figure = self.shape, self.figure
        goal = shape.goal
        return {
            "benchmark": self.benchmark,
            "name": self.name,
            "value": figure.value if figure else None,
            "unit": shape.unit,
            "baseline": figure.baseline if figure else None,
            "against": self.declared.against if self.declared else "",
            "ratio": figure.ratio if figure else None,
            "goal": None if goal is None else asdict(goal) | {"text": goal.describe(shape.unit)},
            "goal_met": figure.goal_met if figure else None,
        }


@dataclass
class Summary:
    """Every benchmark of one run."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    outcomes: list[Outcome] = field(default_factory=list)

    def broken(self) -> list[str]:
        return [f"{o.name}: {p}" for o in self.outcomes for p in o.problems()]

    def as_json(self, sizes: dict[str, str], commit: str) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(timespec="seconds"),
            "commit": commit,
            "sizes": sizes,  # every BENCH_* variable that was set
            "benchmarks": {
                o.name: {"wall_s": o.wall_s, "problems": o.problems()} for o in self.outcomes
            },
            "figures": [row.as_json() for o in self.outcomes for row in o.rows()],
        }

    def write(self, path: Path, sizes: dict[str, str], commit: str) -> None:
        path.write_text(json.dumps(self.as_json(sizes, commit), indent=2) + "\n")

    def table(self) -> str:
        head = ("benchmark", "figure", "value", "unit", "goal", "baseline", "ratio", "met")
        rows = [head] + [row.cells() for o in self.outcomes for row in o.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        numeric = {2, 5, 6}
        lines = [
            "  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(
                zip(r, widths, strict=True)
            )).rstrip()
            for r in rows
        ]  # fmt: skip
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)


def number(value: float | None) -> str:
    """A figure for a person: a few significant digits, thousands grouped."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 100:
        return f"{value:.1f}"
    if size >= 1 or size == 0:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def times(ratio: float | None) -> str:
    """A ratio for a person: up to three decimals near 1 (1.004 is not 1), three digits
    else."""
    if ratio is None:
        return "-"
    if 1 <= abs(ratio) < 10:
        return f"{ratio:.3f}".rstrip("0").rstrip(".")
    return f"{ratio:.3g}" if abs(ratio) < 1 else f"{ratio:.1f}"
