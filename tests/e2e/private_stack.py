"""A Kafka and a FerretDB of a test's own, for tests that kill them.

The shared local stack serves every engineer's and CI job's tests at once, so it is never
killed. A fault test starts a second Kafka and FerretDB with ``scripts/stack.sh up kafka
ferretdb`` (the same configs and flags as the shared stack) in a state folder of its own,
on free ports between 20000 and 32000. The installed programs are reused through symlinks
to the shared stack's ``kafka-libs/`` and ``bin/ferretdb``: nothing is downloaded or built.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STACK_SH = REPO / "scripts" / "stack.sh"
PORTS = range(20000, 32000)  # below Linux's ephemeral range (32768-60999)


def free_ports(count: int) -> list[int]:
    """``count`` ports nothing listens on, picked at random in PORTS."""
    found: list[int] = []
    while len(found) < count:
        port = random.choice(PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in found:
            found.append(port)
    return found


@dataclass
class PrivateStack:
    """Kafka and FerretDB in ``root``, on ports of their own."""

    root: Path
    shared: Path
    kafka_port: int
    controller_port: int
    mongo_port: int

    @classmethod
    def create(cls, root: Path, shared: Path) -> PrivateStack:
        """A state folder whose programs are the shared stack's installed ones."""
        (root / "bin").mkdir(parents=True, exist_ok=True)
        (root / "kafka-libs").symlink_to(shared / "kafka-libs")
        (root / "bin" / "ferretdb").symlink_to(shared / "bin" / "ferretdb")
        (root / "bin" / ".ferretdb.sha256").write_bytes(
            (shared / "bin" / ".ferretdb.sha256").read_bytes()
        )
        kafka, controller, mongo = free_ports(3)
        return cls(root, shared, kafka, controller, mongo)

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/"

    @property
    def ferretdb_data(self) -> Path:
        """The SQLite files of every database."""
        return self.root / "ferretdb" / "data"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            STACK_DIR=str(self.root),
            STACK_KAFKA_PORT=str(self.kafka_port),
            STACK_KAFKA_CONTROLLER_PORT=str(self.controller_port),
            STACK_MONGO_PORT=str(self.mongo_port),
            STACK_KAFKA_HEAP_OPTS="-Xms128m -Xmx512m",
        )
        return env

    def _stack(self, *args: str) -> None:
        done = subprocess.run(
            ["bash", str(STACK_SH), *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"stack.sh {' '.join(args)} failed:\n{done.stderr}")

    def up(self, *servers: str) -> None:
        """Start the servers (Kafka, FerretDB or both) and wait until they answer."""
        self._stack("up", *(servers or ("kafka", "ferretdb")))

    def down(self) -> None:
        """Stop both servers."""
        self._stack("down", "kafka", "ferretdb")

    def pid(self, server: str) -> int:
        """The pid of a running server of this stack, checked against its command line."""
        pid = int((self.root / "run" / f"{server}.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if str(self.root) not in cmdline:
            raise RuntimeError(f"pid {pid} is not this stack's {server}: {cmdline[:200]}")
        return pid

    def kill(self, server: str) -> None:
        """SIGKILL a server of this stack (never the shared one) and wait until it is gone."""
        pid = self.pid(server)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
            if state == "Z":
                break
            time.sleep(0.05)

    def disk_bytes(self, prefix: str = "") -> dict[str, int]:
        """Bytes of FerretDB's databases (those of one deployment when ``prefix`` is
        given) and of their write-ahead logs."""
        files = list(self.ferretdb_data.glob(f"{prefix}*.sqlite*"))
        return {
            "sqlite": sum(f.stat().st_size for f in files if f.name.endswith(".sqlite")),
            "wal": sum(f.stat().st_size for f in files if f.name.endswith("-wal")),
        }

    def wal_bytes(self, prefix: str) -> dict[str, int]:
        """Each database's write-ahead log, by database name."""
        return {
            f.name.removesuffix(".sqlite-wal"): f.stat().st_size
            for f in self.ferretdb_data.glob(f"{prefix}*.sqlite-wal")
        }
