"""`make bench`: run the benchmarks on the local stack and print one summary of them.

Each benchmark is a module ``benchmarks/bench_<name>.py`` with:

- ``FIGURES``: the figures it reports (``benchmarks.figures.Declared``: name, unit, goal,
  and what its baseline is);
- ``SMOKE``: the ``BENCH_*`` sizes at which its smoke in ``make test`` runs in seconds;
- ``async def run(stack: BenchStack) -> Result``: those figures measured, each with the
  bare baseline measured in the same run, and every number it measured (``details``).

The summary is a table of every figure next to its goal, its baseline and their ratio,
and ``.bench/summary.json``; each benchmark's details go to ``.bench/<name>.json``.
Benchmarks never fail on a goal: a person reads them. The run fails (exit 1) only when a
benchmark broke: it raised, or did not report every figure it declared.

    make bench                          # every benchmark
    make bench ONLY=mail                # only benchmarks/bench_mail.py
    python -m benchmarks.run mail --out /tmp/b
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks.figures import Result
from benchmarks.harness import ROOT, local_stack
from benchmarks.summary import Outcome, Summary


def discover(only: list[str]) -> list[str]:
    """The benchmarks' names (``bench_<name>.py``), or those of ``only`` among them."""
    names = sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    unknown = set(only) - set(names)
    if unknown:
        raise SystemExit(f"no such benchmark: {', '.join(sorted(unknown))} (have {names})")
    return [n for n in names if not only or n in only]


def module(name: str) -> Any:
    return importlib.import_module(f"benchmarks.bench_{name}")


async def run_one(name: str, out: Path) -> Outcome:
    """Run one benchmark; a failure is recorded in its outcome, not raised."""
    started = time.monotonic()
    outcome = Outcome(name, ())
    try:
        bench = module(name)
        outcome.declared = tuple(bench.FIGURES)
        print(f"== {name}: {(bench.__doc__ or '').strip().splitlines()[0]}", flush=True)
        result = await bench.run(local_stack(out))
        if not isinstance(result, Result):
            raise TypeError(f"run() returned {type(result).__name__}, not a Result")
        outcome.result = result
    except Exception as error:  # a broken benchmark must not stop the others
        traceback.print_exc()
        outcome.error = f"{type(error).__name__}: {error}"
    outcome.wall_s = round(time.monotonic() - started, 1)
    details: dict[str, float | int | str] = {"error": str(outcome.error)}
    if outcome.result is not None:
        details = dict(outcome.result.details)
    details["wall_s"] = outcome.wall_s
    for key, value in details.items():
        print(f"   {key:40s} {value}", flush=True)
    (out / f"{name}.json").write_text(json.dumps(details, indent=2) + "\n")
    return outcome


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from the PATH
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout.strip()


async def run_all(names: list[str], out: Path) -> int:
    summary = Summary()
    for name in names:
        summary.outcomes.append(await run_one(name, out))
    sizes = {k: v for k, v in sorted(os.environ.items()) if k.startswith("BENCH_")}
    summary.write(out / "summary.json", sizes, _commit())
    print(f"\n== summary ({out / 'summary.json'})\n{summary.table()}")
    broken = summary.broken()
    for problem in broken:
        print(f"BROKEN {problem}", file=sys.stderr)
    return 1 if broken else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("only", nargs="*", help="benchmark names (default: all)")
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".bench", help="where results go (default .bench)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(run_all(discover(args.only), args.out)))


if __name__ == "__main__":
    main()
