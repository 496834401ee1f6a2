"""`make run`: the system on the local stack, with a demo mailbox and calendar.

Starts the four services (and the sync scheduler) as background processes, puts demo mail
into alice@acme.test's Dovecot mailbox and demo meetings into her Radicale calendar,
connects her account, asks for a sync, and prints the timelines the API serves.
The services keep running (the scheduler syncs every 5 minutes) until `make stop`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import seed
from localsystem import LocalSystem

ROOT = Path(__file__).resolve().parents[1]
STACK = Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
PIDS = STACK / "run" / "services"
MAILBOX = "alice@acme.test"
PASSWORD = "demo-password"  # the local stack's demo user (scripts/stack.sh)  # noqa: S105
CLIENT = "jane.doe@mail.client.test"


def deployment() -> LocalSystem:
    port = int(os.environ.get("TIMELINE_PORT", "8080"))
    return LocalSystem(
        kafka_bootstrap=f"127.0.0.1:{os.environ.get('STACK_KAFKA_PORT', '19092')}",
        mongo_url=f"mongodb://127.0.0.1:{os.environ.get('STACK_MONGO_PORT', '27017')}/",
        prefix="crm",
        api_port=port,
        log_dir=STACK / "logs" / "services",
        extra_env={
            "TIMELINE_ALLOW_PRIVATE_HOSTS": "true",  # the demo servers are on 127.0.0.1
            "FETCHER_ALLOW_PRIVATE_HOSTS": "true",
            "TIMELINE_PUBLIC_URL": f"http://127.0.0.1:{port}",  # sign-in links point here
        },
    )


def stop_services() -> None:
    """Stop the services a previous `make run` left running."""
    for pid_file in PIDS.glob("*.pid") if PIDS.exists() else []:
        pid = int(pid_file.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
            print(f"stopped {pid_file.stem} (pid {pid})")
        except ProcessLookupError:
            pass
        pid_file.unlink()


def start_services(system: LocalSystem) -> None:
    stop_services()
    PIDS.mkdir(parents=True, exist_ok=True)
    for service in ("fetcher", "scheduler", "matcher", "enricher", "timeline-api"):
        system.start(service)
        (PIDS / f"{service}.pid").write_text(str(system.processes[service].pid))
    print(f"services started; logs in {system.log_dir}")
    system.wait_for_api()


def seed_demo() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    imap_port = int(os.environ.get("STACK_IMAP_PORT", "10143"))
    proposal = "demo-proposal@acme.test"
    sent = [
        seed.build_message(
            message_id=proposal,
            sender=f"Alice Martin <{MAILBOX}>",
            to=[f"Jane Doe <{CLIENT}>"],
            subject="Proposal for the Q1 rollout",
            body="Hi Jane, please find our proposal attached.",
            sent_at=now - timedelta(days=2),
        )
    ]
    inbox = [
        seed.build_message(
            message_id="demo-reply@client.test",
            sender=f'"Doe, Jane" <{CLIENT}>',
            to=[MAILBOX],
            cc=["bob@acme.test"],
            subject="Re: Proposal for the Q1 rollout",
            body="Thanks Alice, looks good.",
            sent_at=now - timedelta(days=1),
            in_reply_to=proposal,
        ),
        seed.build_message(
            message_id="demo-lunch@acme.test",
            sender="Bob <bob@acme.test>",
            to=[MAILBOX],
            subject="Lunch?",
            body="Internal: never on a timeline.",
            sent_at=now - timedelta(hours=5),
        ),
        seed.build_message(
            message_id="demo-news@vendor.test",
            sender="Vendor News <news@vendor.test>",
            to=[MAILBOX],
            subject="Our November newsletter",
            body="Bulk mail.",
            sent_at=now - timedelta(hours=4),
            headers={"List-Id": "<news.vendor.test>"},
        ),
    ]
    seed.append_messages("127.0.0.1", imap_port, MAILBOX, PASSWORD, "Sent", sent)
    seed.append_messages("127.0.0.1", imap_port, MAILBOX, PASSWORD, "INBOX", inbox)
    start = (now + timedelta(days=1)).replace(hour=14, minute=0, second=0)
    events = [
        seed.build_event(
            uid="demo-kickoff",
            summary="Kick-off with Client",
            start=start,
            end=start + timedelta(hours=1),
            organizer=MAILBOX,
            attendees=[CLIENT],
        ),
        seed.build_event(
            uid="demo-standup",
            summary="Team stand-up",
            start=start,
            end=start + timedelta(minutes=15),
            organizer=MAILBOX,
            attendees=["bob@acme.test"],
        ),
        seed.build_event(
            uid="demo-dentist",
            summary="Dentist",
            start=start + timedelta(hours=3),
            end=start + timedelta(hours=4),
            organizer=MAILBOX,
            attendees=[CLIENT],
            private=True,
        ),
    ]
    seed.ensure_caldav_user(STACK / "radicale" / "users", MAILBOX, PASSWORD)
    seed.put_events(caldav_url(), MAILBOX, PASSWORD, "work", events)
    print(f"demo mail and meetings are in {MAILBOX}'s mailbox and calendar")


def caldav_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('STACK_CALDAV_PORT', '15232')}/"


def connect_and_sync(system: LocalSystem) -> tuple[str, str]:
    """Bootstrap the workspace with crm-admin, connect the mailbox and calendar through the
    API (which tests each protocol first and starts the import); returns the API key and
    the workspace id."""
    bootstrap = [sys.executable, "-m", "timeline_api.entrypoints.admin", "bootstrap"]
    bootstrap += ["--name", "Acme", "--domain", "acme.test"]
    bootstrap += ["--admin-email", MAILBOX, "--admin-name", "Alice"]
    made = json.loads(run_json(bootstrap, system.env_for("timeline-api")))
    key = str(made["api_key"])
    body = {
        "email": MAILBOX,
        "imap": {
            "host": "127.0.0.1",
            "port": int(os.environ.get("STACK_IMAP_PORT", "10143")),
            "tls": "none",
            "username": MAILBOX,
            "password": PASSWORD,
        },
        "caldav": {"url": caldav_url()},
        "mail": {"contact_creation": "sent_only"},
    }
    existing = [a for a in call(system, key, "GET", "/v1/accounts") if a["email"] == MAILBOX]
    if existing:
        account = existing[0]
        call(system, key, "POST", f"/v1/accounts/{account['id']}/sync")
    else:
        account = call(system, key, "POST", "/v1/accounts", body)
    print(f"workspace {made['workspace_id']}, account {account['id']} connected; syncing")
    print(f"API key of {MAILBOX} (admin): {key}")
    return key, str(made["workspace_id"])


def sign_in_link(system: LocalSystem, workspace_id: str) -> str:
    """A one-time link that signs the demo user in to the web app (crm-admin)."""
    command = [sys.executable, "-m", "timeline_api.entrypoints.admin", "sign-in-link"]
    command += ["--workspace", workspace_id, "--email", MAILBOX]
    return run_json(command, system.env_for("timeline-api")).strip()


def run_json(command: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[1:4])} failed (exit {done.returncode}):\n{done.stderr}")
    return done.stdout


def call(system: LocalSystem, key: str, method: str, path: str, body: Any = None) -> Any:
    """One API call as the demo's admin; a problem answer ends the demo with its words."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - the local API
        f"{system.api_url}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            payload = response.read()
    except urllib.error.HTTPError as error:
        problem = json.loads(error.read() or b"{}")
        sys.exit(f"{method} {path}: {error.code} {problem.get('detail', '')}")
    return json.loads(payload) if payload else None


def get(system: LocalSystem, key: str, path: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return call(system, key, "GET", f"{path}{query}")


def wait_for_timeline(system: LocalSystem, key: str, within: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        system.check_alive()
        people = get(system, key, "/v1/people", email=CLIENT)["items"]
        if people:
            person = people[0]
            threads = get(system, key, f"/v1/people/{person['id']}/threads")["items"]
            events = get(system, key, f"/v1/people/{person['id']}/events")["items"]
            if threads and threads[0]["message_count"] >= 2 and events:
                return dict(person)
        time.sleep(0.5)
    sys.exit(f"the timeline did not fill in {within:.0f} s; see the logs in {system.log_dir}")


def show(system: LocalSystem, key: str, person: dict[str, Any]) -> None:
    print(f"\n=== {person['name']} <{', '.join(person['emails'])}>")
    print_timeline(system, key, f"/v1/people/{person['id']}")
    if person.get("company_id"):
        company = get(system, key, f"/v1/companies/{person['company_id']}")
        print(f"\n=== company {company['name']} ({', '.join(company['domains'])})")
        print_timeline(system, key, f"/v1/companies/{company['id']}")
    print(
        f"\nNot on any timeline: Bob's lunch (internal), the vendor newsletter (group mail),"
        f" the stand-up (internal) and the dentist (private).\n"
        f"API: {system.api_url}/docs   Stop the services: make stop"
        "   Stop the stack: make infra-down"
    )


def print_accounts(system: LocalSystem, key: str) -> None:
    print("\n=== connected accounts")
    for account in get(system, key, "/v1/accounts"):
        states = ", ".join(
            f"{s['kind']} {s['state']}" + (f" ({s['done']} items)" if s["done"] else "")
            for s in account["status"]
        )
        print(f"  {account['email']} ({account['provider']}): {states}")


def print_timeline(system: LocalSystem, key: str, path: str) -> None:
    print("  Emails:")
    for thread in get(system, key, f"{path}/threads")["items"]:
        subject = thread.get("subject") or "(subject hidden)"
        print(
            f"    {thread['last_activity'][:16]}  {subject}  [{thread['message_count']} messages]"
        )
    print("  Calendar:")
    for event in get(system, key, f"{path}/events")["items"]:
        title = event.get("title") or "(title hidden)"
        print(f"    {event['starts_at'][:16]}  {title}  ({event['duration_minutes']} min)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stop", action="store_true", help="stop the services and exit")
    if parser.parse_args().stop:
        stop_services()
        return
    system = deployment()
    start_services(system)
    seed_demo()
    key, workspace_id = connect_and_sync(system)
    person = wait_for_timeline(system, key)
    print_accounts(system, key)
    show(system, key, person)
    print(
        f"\nThe web app: {system.api_url}/app/\n"
        f"Sign in as {MAILBOX} (once, within 15 minutes): {sign_in_link(system, workspace_id)}\n"
        f"Another link later: make sign-in WORKSPACE={workspace_id} EMAIL={MAILBOX}"
    )
    system.processes.clear()  # leave them running for the user; `make stop` ends them


if __name__ == "__main__":
    main()
