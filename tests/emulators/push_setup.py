"""The emulated providers set up for push, and the deployment's settings that point the
services at them: shared by the end-to-end test and the push benchmark.

Gmail and Google Calendar (with Pub/Sub) on http, Graph over TLS; both accept the API's
plain-http address as a notification URL, which the providers would refuse, because the
local API listens on http.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crm_schemas.push import GMAIL_PUSH_PATH

from .gmail import GmailEmulator
from .graph import GraphEmulator
from .oauth import TokenAuthority
from .server import EmulatorServer
from .tls import write_certificate

CLIENT_ID, CLIENT_SECRET = "crm-push-client", "crm-push-secret"
SERVICE_ACCOUNT = "gmail-push@crm-test.iam.gserviceaccount.com"


@dataclass
class PushProviders:
    """The running emulators and where they are."""

    gmail: GmailEmulator
    graph: GraphEmulator
    google_url: str
    graph_url: str
    ca_file: str
    topic: str

    def deliver_gmail_to(self, api_url: str) -> None:
        """The Pub/Sub push subscription: Gmail's topic to the API's endpoint."""
        self.gmail.pubsub.subscribe(self.topic, api_url + GMAIL_PUSH_PATH, SERVICE_ACCOUNT)

    def env(self, api_url: str) -> dict[str, str]:
        """The services' settings: provider endpoints, and push on towards ``api_url``."""
        return {
            "FETCHER_GOOGLE_CLIENT_ID": CLIENT_ID,
            "FETCHER_GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
            "FETCHER_GOOGLE_TOKEN_URI": f"{self.google_url}/token",
            "FETCHER_GMAIL_API_URL": self.google_url,
            "FETCHER_GCAL_API_URL": self.google_url,
            "FETCHER_MICROSOFT_CLIENT_ID": CLIENT_ID,
            "FETCHER_MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
            "FETCHER_MICROSOFT_AUTHORITY": f"{self.graph_url}/common",
            "FETCHER_GRAPH_API_URL": f"{self.graph_url}/v1.0",
            "FETCHER_PROVIDER_CA_FILE": self.ca_file,
            "FETCHER_PUSH_URL": api_url,
            "FETCHER_PUSH_ALLOW_HTTP": "true",
            "FETCHER_GMAIL_PUBSUB_TOPIC": self.topic,
            "TIMELINE_PUBLIC_URL": api_url,
            "TIMELINE_PUSH_GOOGLE_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
            "TIMELINE_PUSH_GOOGLE_CERTS_URL": f"{self.google_url}/oauth2/v3/certs",
        }


@contextmanager
def push_providers(folder: Path) -> Iterator[PushProviders]:
    """Gmail (with Pub/Sub and its topic) and Graph running until the block ends."""
    ca_file, cert = write_certificate(folder)
    gmail = GmailEmulator(TokenAuthority(CLIENT_ID, CLIENT_SECRET), allow_http=True)
    graph = GraphEmulator(TokenAuthority(CLIENT_ID, CLIENT_SECRET), allow_http=True)
    topic = gmail.pubsub.create_topic("gmail")
    try:
        with EmulatorServer(gmail) as g, EmulatorServer(graph, certfile=cert, keyfile=cert) as m:
            graph.base_url = m.base_url
            yield PushProviders(gmail, graph, g.base_url, m.base_url, ca_file, topic)
    finally:
        gmail.notifier.close()
        graph.notifier.close()
