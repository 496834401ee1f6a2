"""One emulator in a process of its own, filled with a benchmark's mailbox.

The provider benchmark runs the fetcher in its process; with the emulator on a thread of
the same process, both shared one interpreter lock, and the emulator's work slowed the
fetcher down. Here the emulator gets a process (and a core) of its own, as Gmail and
Graph are on servers of their own.

    python -m tests.emulators.serve gmail|graph --messages N --owner ADDRESS
        [--quota-units U] [--budget B] [--window-s W] [--cert FILE]

Prints one JSON line once serving: ``{"base_url", "refresh_token"}``. Then reads its
standard input: at end of input (or the line ``stats``) it prints
``{"throttled", "max_active"}`` and exits.
"""

import argparse
import json
import sys
import time
from typing import Any

from tests.emulators.gmail import GmailEmulator
from tests.emulators.graph import GraphEmulator
from tests.emulators.oauth import TokenAuthority
from tests.emulators.server import EmulatorServer

CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret"


def gmail_raw(n: int, owner: str) -> bytes:
    """Message ``n`` of the benchmark's Gmail mailbox, as RFC 5322 bytes."""
    return (
        f"From: Client {n % 500} <client{n % 500}@customer{n % 50}.test>\r\n"
        f"To: Owner <{owner}>\r\nSubject: Order {n}\r\n"
        f"Message-ID: <bench-{n}-{time.time_ns()}@customer{n % 50}.test>\r\n"
        f"Date: Tue, 05 Mar 2024 10:00:00 +0100\r\n\r\nHello, about order {n}.\r\n"
    ).encode()


def graph_resource(n: int, owner: str) -> dict[str, Any]:
    """Message ``n`` of the benchmark's Graph mailbox, as a Graph message resource."""
    client = {"emailAddress": {"name": f"Client {n}", "address": f"client{n % 500}@c.test"}}
    return {
        "internetMessageId": f"<bench-{n}-{time.time_ns()}@c.test>",
        "subject": f"Order {n}",
        "from": client,
        "toRecipients": [{"emailAddress": {"address": owner}}],
        "sentDateTime": "2024-03-05T10:00:00Z",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("gmail", "graph"))
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--quota-units", type=int, default=15000)
    parser.add_argument("--budget", type=int, default=10000)
    parser.add_argument("--window-s", type=float, default=60.0)
    parser.add_argument("--cert", default=None, help="certificate and key file: serve HTTPS")
    args = parser.parse_args()

    authority = TokenAuthority(CLIENT_ID, CLIENT_SECRET)
    emulator: GmailEmulator | GraphEmulator
    if args.kind == "gmail":
        emulator = GmailEmulator(authority, quota_units=args.quota_units, window_s=args.window_s)
        for n in range(args.messages):
            emulator.deliver(args.owner, gmail_raw(n, args.owner))
    else:
        emulator = GraphEmulator(
            authority, concurrency=4, budget=args.budget, window_s=args.window_s
        )
        for n in range(args.messages):
            emulator.deliver(args.owner, "inbox", graph_resource(n, args.owner))

    with EmulatorServer(emulator, certfile=args.cert, keyfile=args.cert) as server:
        if isinstance(emulator, GraphEmulator):
            emulator.base_url = server.base_url
        ready = {"base_url": server.base_url, "refresh_token": authority.consent(args.owner)}
        print(json.dumps(ready), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                break
        stats = {"throttled": emulator.throttled, "max_active": 0}
        if isinstance(emulator, GraphEmulator):
            stats["max_active"] = emulator.mailbox(args.owner).max_active
        print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
