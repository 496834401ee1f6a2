"""Start and stop the services as real processes on the local stack.

Used by `make run` (scripts/demo.py) and by the end-to-end tests, so both run the system
exactly as it is deployed: one process per service, talking over Kafka and MongoDB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# service name -> (command after `python`, env prefix, database suffix)
SERVICES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "fetcher": (("-m", "fetcher", "worker"), "FETCHER_", "fetcher"),
    "scheduler": (("-m", "fetcher", "scheduler"), "FETCHER_", "fetcher"),
    "matcher": (("-m", "matcher"), "MATCHER_", "matcher"),
    "enricher": (("-m", "enricher"), "ENRICHER_", "enricher"),
    "timeline-api": (("-m", "timeline_api"), "TIMELINE_", "timeline"),
    # The timeline's projection on its own, as deploy/k8s runs it (docs/adr/0026: projection
    # apart): start it with env={"TIMELINE_CONSUME": "true", "TIMELINE_PORT": <another>}.
    "timeline-projection": (("-m", "timeline_api"), "TIMELINE_", "timeline"),
}

PIPELINE = ("fetcher", "matcher", "enricher", "timeline-api")
ROOT = Path(__file__).resolve().parents[1]


def local_secrets_key() -> str:
    """The local stack's own secrets key (scripts/stack.sh makes it at install), or ''."""
    stack = Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
    path = stack / "secrets.key"
    return path.read_text().strip() if path.exists() else ""


@dataclass
class LocalSystem:
    """The services of one deployment (one topic prefix, one set of databases)."""

    kafka_bootstrap: str
    mongo_url: str
    prefix: str
    api_port: int
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    secrets_key: str = field(default_factory=local_secrets_key, repr=False)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env_for(self, service: str) -> dict[str, str]:
        """The environment of one service: its prefix, its own database."""
        _, env_prefix, db_suffix = SERVICES[service]
        values = {
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "MONGO_URL": self.mongo_url,
            "MONGO_DB": f"{self.prefix}_{db_suffix}",
            "TOPIC_PREFIX": self.prefix,
            "GROUP_PREFIX": self.prefix,
            "PORT": str(self.api_port),
        }
        env = dict(os.environ)
        env.update({f"{env_prefix}{k}": v for k, v in values.items()})
        if self.secrets_key:  # unless the environment has one of its own
            env.setdefault(f"{env_prefix}SECRETS_KEY", self.secrets_key)
        env.update(self.extra_env)
        return env

    def start(self, service: str, instance: str = "", env: dict[str, str] | None = None) -> str:
        """Start one service in the background, its log in the log folder; returns its name.

        ``instance`` starts another replica of the same service (same groups, same
        database), named ``<service>#<instance>`` for ``stop`` and the logs; ``env`` adds
        variables for this process only.
        """
        name = f"{service}#{instance}" if instance else service
        running = self.processes.get(name)
        if running is not None and running.poll() is None:
            return name
        command, _, _ = SERVICES[service]
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, *command],
            env=self.env_for(service) | (env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return name

    def stop(self, service: str, *, kill: bool = False, timeout: float = 20.0) -> None:
        """Stop one service: SIGTERM (or SIGKILL, to simulate a crash), then wait."""
        process = self.processes.pop(service, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)

    def start_all(
        self, services: tuple[str, ...] = ("fetcher", "matcher", "enricher", "timeline-api")
    ) -> None:
        for service in services:
            self.start(service)

    def stop_all(self, timeout: float = 20.0) -> None:
        """SIGTERM to every service at once, then wait for each (SIGKILL after ``timeout``)."""
        stopping = [p for p in self.processes.values() if p.poll() is None]
        self.processes.clear()
        for process in stopping:
            process.send_signal(signal.SIGTERM)
        for process in stopping:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)

    def wait_for_api(self, timeout: float = 60.0) -> None:
        """Wait until the timeline API answers /healthz, or fail with its log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.api_url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(
            f"timeline API did not answer in {timeout:.0f} s\n{self.log_tail('timeline-api')}"
        )

    def check_alive(self) -> None:
        """Fail with the service's log when a service has exited."""
        for service, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{service} exited with code {process.returncode}\n{self.log_tail(service)}"
                )

    def log_tail(self, service: str, lines: int = 40) -> str:
        path = self.log_dir / f"{service}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
