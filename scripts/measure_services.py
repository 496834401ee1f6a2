"""Peak RSS and CPU seconds of each service process while a command runs.

    .venv/bin/python scripts/measure_services.py -- .venv/bin/pytest tests/e2e/test_pipeline.py -q

Samples /proc every 0.2 s for processes started as ``python -m <service>`` (the way
scripts/localsystem.py runs them); prints, per service, the peak resident set and the CPU
time of its processes, and the wall time of the command. deploy/k8s's resource requests
and limits quote these figures.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

SERVICES = ("fetcher", "matcher", "enricher", "timeline_api")
TICKS = os.sysconf("SC_CLK_TCK")


def service_of(pid: int) -> str | None:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for i, arg in enumerate(args[:-1]):
        if arg == b"-m" and args[i + 1].decode() in SERVICES:
            name = args[i + 1].decode()
            sub = args[i + 2].decode() if len(args) > i + 2 and args[i + 2] else ""
            return f"{name} {sub}".strip()
    return None


def sample(peaks: dict[str, int], cpu: dict[int, tuple[str, float]]) -> None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        name = service_of(pid)
        if name is None:
            continue
        try:
            status = (entry / "status").read_text()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        rss = [line for line in status.splitlines() if line.startswith("VmRSS")]
        if not rss:
            continue  # a process that is exiting
        rss_kb = int(rss[0].split()[1])
        peaks[name] = max(peaks.get(name, 0), rss_kb)
        cpu[pid] = (name, (int(fields[11]) + int(fields[12])) / TICKS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the command to run")
    command = [c for c in parser.parse_args().command if c != "--"]
    peaks: dict[str, int] = {}
    cpu: dict[int, tuple[str, float]] = {}
    started = time.monotonic()
    running = subprocess.Popen(command)  # noqa: S603 - the caller's own command
    while running.poll() is None:
        sample(peaks, cpu)
        time.sleep(0.2)
    wall = time.monotonic() - started
    totals: dict[str, float] = {}
    for name, seconds in cpu.values():
        totals[name] = totals.get(name, 0.0) + seconds
    print(f"wall {wall:.1f} s; exit {running.returncode}")
    for name in sorted(peaks):
        print(f"{name:24} peak RSS {peaks[name] / 1024:6.1f} MB   CPU {totals[name]:6.1f} s")
    return running.returncode


if __name__ == "__main__":
    sys.exit(main())
