"""First import of a Gmail and a Graph mailbox at the providers' own limits, on emulators.

The fetcher's API mail job runs in this process against real Kafka and FerretDB, and
against the emulators in tests/emulators, each in a process of its own
(``tests.emulators.serve``: on a thread of this process the emulator shared the
interpreter lock with the fetcher), set to the providers' published limits:

- Gmail: 15,000 quota units per user per minute, messages.get 5 units, so the ceiling is
  3,000 messages a minute. The window is scaled (``BENCH_QUOTA_WINDOW_S``, default 6 s
  holding 1,500 units: the same rate as a minute holding 15,000), so the first window's
  burst is short; the rate, not the window, is what is compared. The issue's 20,000
  messages (``BENCH_GMAIL_MESSAGES``) take about seven minutes at the ceiling.
- Graph: 4 concurrent requests and 10,000 requests per 10 minutes per mailbox (each
  request inside a $batch counts), so the ceiling is 1,000 messages a minute; the window
  is scaled less (``BENCH_GRAPH_WINDOW_S``, default 60 s holding 1,000 requests): a
  window of 100 requests holds only four $batches of 20 after a delta page's request,
  so a 6 s window measured the window's rounding (0.84 of the ceiling), not the fetcher.

Reported: messages a minute over the whole import and in the steady state (after the
first window, whose budget is spent in one burst), each next to the ceiling the emulator
enforces (the provider's published one at the default windows); throttled answers the
emulator had to give (the limiter aims for none). A message counts once it is durably on
``mail.raw``: the fetcher's own Publisher (``KafkaPublisher``) publishes through the
runtime's bulk publisher, which here notes when each of its batches was acknowledged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trustme
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from benchmarks.figures import Declared, Figure, Result, at_least
from benchmarks.harness import ROOT, BenchStack, new_tag
from crm_runtime.bus import BulkPublisher, Outgoing, delete_topics, ensure_topics
from crm_runtime.secrets import SecretBox
from crm_runtime.service import TOPIC_PARTITIONS
from crm_schemas.config import AccountConfigured, OAuthConnection, OAuthProvider
from fetcher.adapters.kafka import KafkaPublisher
from fetcher.adapters.passwords import SealedPasswords
from fetcher.adapters.provider_cursors import MongoProviderCursorStore
from fetcher.adapters.quota import ProjectQuota
from fetcher.providers.factory import ProviderFactory
from fetcher.settings import FetcherSettings
from fetcher.sync_oauth import OAuthMailPorts, run_oauth_mail_job
from tests.emulators.serve import CLIENT_ID, CLIENT_SECRET

OWNER = "owner@acme.test"
GMAIL_UNITS_PER_MINUTE = 15_000
GMAIL_UNITS_PER_MESSAGE = 5  # messages.get
GRAPH_REQUESTS_PER_10_MIN = 10_000

_CEILING = at_least(1.0, "issue 7, ARCHITECTURE.md: the quota's own ceiling", of_baseline=True)
_AGAINST = "the provider's ceiling, as the emulator enforces it"
FIGURES = tuple(
    Declared(f"{provider}_msgs_per_min{part}", "msg/min", _CEILING, _AGAINST)
    for provider in ("gmail", "graph")
    for part in ("", "_steady")
)
SMOKE = {  # a few windows of each provider, at the same rates
    "BENCH_GMAIL_MESSAGES": "150",
    "BENCH_QUOTA_WINDOW_S": "1",
    "BENCH_GRAPH_MESSAGES": "60",
    "BENCH_GRAPH_WINDOW_S": "3",
}


@contextmanager
def _emulator(
    kind: str, *args: str
) -> Iterator[tuple[dict[str, str], Callable[[], dict[str, int]]]]:
    """An emulator process (``tests.emulators.serve``): what it printed once serving, and
    a call that returns its counters; the process is ended on leaving."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "tests.emulators.serve", kind, "--owner", OWNER, *args],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    commands, answers = process.stdin, process.stdout
    if commands is None or answers is None:
        raise RuntimeError("the emulator's pipes were not opened")
    try:
        line = answers.readline()
        if not line:
            raise RuntimeError(f"the {kind} emulator stopped before serving")
        ready: dict[str, str] = json.loads(line)

        def stats() -> dict[str, int]:
            commands.write("stats\n")
            commands.flush()
            counters: dict[str, int] = json.loads(answers.readline())
            return counters

        yield ready, stats
    finally:
        # Ended, not asked to stop: Graph's HTTPS emulator, asked, waited out its 10 s
        # shutdown timeout on a connection this process still held open, for nothing.
        commands.close()
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Acknowledged(BulkPublisher):
    """The runtime's bulk publisher, noting when Kafka acknowledged each event of
    ``topic``. The fetcher's Publisher is the real one over it, whichever of the port's
    methods the job calls, so the benchmark times the fetcher as it is."""

    def __init__(self, settings: FetcherSettings, topic: str) -> None:
        super().__init__(settings, "bench-fetcher", TracerProvider())
        self._topic = topic
        self.times: list[float] = []

    async def publish_all(self, outgoing: Iterable[Outgoing]) -> None:
        events = list(outgoing)
        await super().publish_all(events)
        now = time.monotonic()
        self.times.extend(now for topic, _, _ in events if topic == self._topic)


def _rates(times: list[float], started: float, window_s: float) -> tuple[float, float]:
    """Messages a minute over the whole import, and after the first window (0 when the
    import ended inside it)."""
    if not times:
        raise RuntimeError("no message reached mail.raw: the import published nothing")
    total = len(times) / (times[-1] - started) * 60
    steady = [t for t in times if t >= started + window_s]
    span = steady[-1] - (started + window_s) if len(steady) > 1 else 0
    return total, len(steady) / span * 60 if span else 0.0


async def _import(
    stack: BenchStack, settings: FetcherSettings, account: AccountConfigured, project: bool
) -> tuple[list[float], float, int]:
    await ensure_topics(stack.kafka_bootstrap, settings.topics.all(), TOPIC_PARTITIONS)
    bulk = _Acknowledged(settings, settings.topics.mail_raw)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
    db = mongo[settings.mongo_db]
    try:
        secrets = SealedPasswords(SecretBox(settings.secrets_key))
        quota = ProjectQuota(db, "google:bench", settings.google_project_quota_units, 60)
        factory = ProviderFactory(settings, secrets, quota if project else None)
        publish = KafkaPublisher(bulk)
        ports = OAuthMailPorts(settings, factory.open_mail, MongoProviderCursorStore(db), publish)
        started = time.monotonic()
        jobs = 1
        while (await run_oauth_mail_job(account, ports)).more:
            jobs += 1
        return bulk.times, started, jobs
    finally:
        await bulk.close()
        await mongo.drop_database(settings.mongo_db)
        await mongo.close()
        await delete_topics(stack.kafka_bootstrap, settings.topic_prefix)


def _account(settings: FetcherSettings, provider: OAuthProvider, refresh: str) -> AccountConfigured:
    box = SecretBox(settings.secrets_key)
    return AccountConfigured(
        account_id=f"bench-{provider}",
        workspace_id="ws-bench",
        owner_member_id="m",
        email=OWNER,
        oauth=OAuthConnection(provider=provider, refresh_token_encrypted=box.seal(refresh)),
    )


def _report(
    provider: str, times: list[float], started: float, window: float, ceiling: float
) -> tuple[list[Figure], dict[str, float | int | str]]:
    """The provider's figures, each next to the ceiling; and its details."""
    total, steady = _rates(times, started, window)
    figures = {f.name: f for f in FIGURES}
    measured = [
        figures[f"{provider}_msgs_per_min"](total, ceiling),
        figures[f"{provider}_msgs_per_min_steady"](steady, ceiling),
    ]
    return measured, {
        f"{provider}_messages": len(times),
        f"{provider}_window_s": window,
        f"{provider}_ceiling_per_min": round(ceiling),
        f"{provider}_per_min_overall": round(total),
        f"{provider}_per_min_steady": round(steady),
        f"{provider}_overall_of_ceiling": round(total / ceiling, 3),
        f"{provider}_steady_of_ceiling": round(steady / ceiling, 3),
    }


async def _gmail(stack: BenchStack) -> tuple[list[Figure], dict[str, float | int | str]]:
    count = int(os.environ.get("BENCH_GMAIL_MESSAGES", "20000"))
    window = float(os.environ.get("BENCH_QUOTA_WINDOW_S", "6"))
    units = round(GMAIL_UNITS_PER_MINUTE * window / 60)
    options = ["--messages", str(count), "--quota-units", str(units), "--window-s", str(window)]
    with _emulator("gmail", *options) as (server, stats):
        tag = new_tag("bg")
        settings = FetcherSettings(
            kafka_bootstrap=stack.kafka_bootstrap,
            mongo_url=SecretStr(stack.mongo_url),
            mongo_db=f"{tag}_fetcher",
            topic_prefix=tag,
            group_prefix=tag,
            log_json=False,
            secrets_key=SecretStr(stack.secrets_key),
            google_client_id=CLIENT_ID,
            google_client_secret=SecretStr(CLIENT_SECRET),
            google_token_uri=f"{server['base_url']}/token",
            gmail_api_url=server["base_url"],
            gmail_user_quota_units=units,
            quota_window_s=window,
            max_messages_per_job=count,
        )
        account = _account(settings, OAuthProvider.GOOGLE, server["refresh_token"])
        times, started, jobs = await _import(stack, settings, account, project=True)
        counters = stats()
    ceiling = units / GMAIL_UNITS_PER_MESSAGE * 60 / window
    figures, details = _report("gmail", times, started, window, ceiling)
    details |= {"gmail_throttled_answers": counters["throttled"], "gmail_jobs": jobs}
    return figures, details


async def _graph(stack: BenchStack) -> tuple[list[Figure], dict[str, float | int | str]]:
    count = int(os.environ.get("BENCH_GRAPH_MESSAGES", "4000"))
    window = float(os.environ.get("BENCH_GRAPH_WINDOW_S", "60"))
    budget = round(GRAPH_REQUESTS_PER_10_MIN * window / 600)
    with tempfile.TemporaryDirectory() as folder:
        ca = trustme.CA()
        ca_file, cert = Path(folder, "ca.pem"), Path(folder, "cert.pem")
        ca.cert_pem.write_to_path(str(ca_file))
        ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(cert))
        options = ["--messages", str(count), "--budget", str(budget), "--window-s", str(window)]
        with _emulator("graph", *options, "--cert", str(cert)) as (server, stats):
            tag = new_tag("bm")
            settings = FetcherSettings(
                kafka_bootstrap=stack.kafka_bootstrap,
                mongo_url=SecretStr(stack.mongo_url),
                mongo_db=f"{tag}_fetcher",
                topic_prefix=tag,
                group_prefix=tag,
                log_json=False,
                secrets_key=SecretStr(stack.secrets_key),
                microsoft_client_id=CLIENT_ID,
                microsoft_client_secret=SecretStr(CLIENT_SECRET),
                microsoft_authority=f"{server['base_url']}/common",
                graph_api_url=f"{server['base_url']}/v1.0",
                provider_ca_file=str(ca_file),
                graph_mailbox_requests=budget,
                graph_window_s=window,
                max_messages_per_job=count,
            )
            account = _account(settings, OAuthProvider.MICROSOFT, server["refresh_token"])
            times, started, jobs = await _import(stack, settings, account, project=False)
            counters = stats()
    ceiling = budget * 60 / window  # each request inside a $batch counts: one a message
    figures, details = _report("graph", times, started, window, ceiling)
    details |= {
        "graph_max_concurrent": counters["max_active"],
        "graph_throttled_answers": counters["throttled"],
        "graph_jobs": jobs,
    }
    return figures, details


async def run(stack: BenchStack) -> Result:
    gmail, gmail_details = await _gmail(stack)
    graph, graph_details = await _graph(stack)
    return Result(figures=(*gmail, *graph), details=gmail_details | graph_details)
