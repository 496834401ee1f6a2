"""Every benchmark still runs: each one, at the tiny sizes it declares (``SMOKE``), through
the entry point `make bench` uses, reports every figure it declares.

Only that it ran and reported is asserted, never how fast: speed is read by a person from
`make bench`, next to goals and baselines measured in the same run.
"""

import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from benchmarks.run import discover, module
from tests.conftest import SERVICE_PREFIXES, Stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def as_make_bench_runs(env: Mapping[str, str]) -> dict[str, str]:
    """The environment of `make bench` from a shell: none of the benchmarks' sizes, and
    none of the services' settings this test session gives its own processes (the
    secrets key among them): a benchmark must find what it needs on the stack itself."""
    session = ("BENCH_", *SERVICE_PREFIXES)
    return {k: v for k, v in env.items() if not k.startswith(session)}


@pytest.mark.parametrize("name", discover([]))
def test_the_benchmark_runs_and_reports_every_figure_it_declares(
    name: str, stack: Stack, tmp_path: Path
) -> None:
    bench = module(name)
    sizes = as_make_bench_runs(os.environ) | bench.SMOKE
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", name, "--out", str(tmp_path)],
        cwd=ROOT, env=sizes, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["benchmarks"][name]["problems"] == []
    reported = {f["name"]: f for f in summary["figures"] if f["benchmark"] == name}
    assert set(reported) == {declared.name for declared in bench.FIGURES}
    for figure in reported.values():
        assert isinstance(figure["value"], float), figure
        assert math.isfinite(figure["value"]), figure
    assert (tmp_path / f"{name}.json").exists()
