"""The fetcher's settings: environment variables prefixed ``FETCHER_``."""

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crm_runtime.egress import EgressPolicy
from crm_runtime.settings import ServiceSettings


class FetcherSettings(ServiceSettings):
    """How often and how much the fetcher pulls from each account."""

    model_config = SettingsConfigDict(env_prefix="FETCHER_", extra="ignore", frozen=True)

    mongo_db: str = "crm_fetcher"
    schedule_interval_s: float = Field(
        default=300, gt=0, description="How often every account is synced (SPEC: 5 minutes)."
    )
    batch_size: int = Field(
        default=100, ge=1, description="Messages per fetch round trip; the cursor moves after."
    )
    max_messages_per_job: int = Field(
        default=1000,
        ge=1,
        description="Bound of one sync job; more work continues in a follow-up job.",
    )
    body_max_bytes: int = Field(default=65536, ge=0, description="Bytes of body text kept.")
    calendar_past_days: int = Field(default=5 * 365, ge=0)
    calendar_future_days: int = Field(default=365, ge=0)
    connect_timeout_s: float = Field(default=30, gt=0, description="IMAP/CalDAV socket timeout.")
    idle: bool = Field(
        default=True,
        description="Hold IMAP IDLE watches (push) for the accounts this worker owns.",
    )
    allow_private_hosts: bool = Field(
        default=False,
        description="Let IMAP and CalDAV connections go to loopback, link-local and private"
        " addresses (the SSRF guard off: the local stack and the tests).",
    )
    allowed_private_networks: tuple[str, ...] = Field(
        default=(),
        description="Private networks (CIDR) accounts may point at even so, e.g. a mail"
        " server of the deployment's own.",
    )

    # Google and Microsoft accounts (OAuth): the deployment's app, and where the APIs are.
    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")
    google_token_uri: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    gmail_api_url: str = "https://gmail.googleapis.com"
    gcal_api_url: str = "https://www.googleapis.com"
    gmail_batch_size: int = Field(
        default=50, ge=1, le=100, description="messages.get per HTTP batch (Gmail caps it at 100)."
    )
    gmail_user_quota_units: int = Field(
        default=15000, ge=1, description="Gmail quota units per mailbox per window."
    )
    google_project_quota_units: int = Field(
        default=1_200_000, ge=1, description="Gmail quota units per project per window."
    )
    quota_window_s: float = Field(
        default=60, gt=0, description="The quota window (a minute at Google; tests scale it)."
    )
    microsoft_client_id: str = ""
    microsoft_client_secret: SecretStr = SecretStr("")
    microsoft_authority: str = "https://login.microsoftonline.com/common"
    graph_api_url: str = "https://graph.microsoft.com/v1.0"
    graph_batch_size: int = Field(default=20, ge=1, le=20, description="Requests per $batch.")
    graph_concurrency: int = Field(
        default=4, ge=1, description="Concurrent requests per mailbox (Graph allows 4)."
    )
    graph_mailbox_requests: int = Field(
        default=10000, ge=1, description="Graph requests per mailbox per Graph window."
    )
    graph_window_s: float = Field(
        default=600, gt=0, description="Graph's per-mailbox request window (10 minutes)."
    )
    provider_ca_file: str | None = Field(
        default=None, description="Extra CA bundle for the provider endpoints (tests' emulators)."
    )
    provider_attempts: int = Field(
        default=8, ge=1, description="Attempts at a throttled request before the job yields."
    )
    provider_max_wait_s: float = Field(
        default=120, gt=0, description="Longest wait between two throttled attempts."
    )
    provider_timeout_s: float = Field(default=30, gt=0, description="HTTP timeout to the APIs.")
    # Push (docs/push.md): the providers notify the timeline API; the fetcher subscribes.
    push_url: str = Field(
        default="",
        description="The timeline API's public HTTPS URL (its TIMELINE_PUBLIC_URL), where the"
        " providers deliver notifications; empty or not https: push is off, polling stays.",
    )
    push_allow_http: bool = Field(
        default=False,
        description="Accept an http push URL (the tests' emulators only; providers refuse).",
    )
    gmail_pubsub_topic: str = Field(
        default="",
        description="The Pub/Sub topic Gmail publishes to (projects/<project>/topics/<name>);"
        " empty: no push for Gmail.",
    )
    push_renew_every_s: float = Field(
        default=86400, gt=0, description="Renew a subscription this old (Gmail: daily)."
    )
    push_renew_before_s: float = Field(
        default=86400, gt=0, description="Renew a subscription that ends within this."
    )
    graph_subscription_minutes: int = Field(
        default=4230,
        ge=1,
        le=4230,
        description="Lifetime asked of a Graph subscription (messages, events: under 3 days).",
    )
    calendar_channel_s: float = Field(
        default=7 * 86400, gt=0, description="Lifetime asked of a Google Calendar channel."
    )
    calendar_read_timeout_s: float = Field(
        default=300,
        gt=0,
        description="How long a CalDAV server may take to answer one request: the first "
        "listing of a large calendar is computed whole before its first byte.",
    )

    @property
    def egress(self) -> EgressPolicy:
        """Where connections to the hosts of accounts may go (``crm_runtime.egress``)."""
        return EgressPolicy(self.allow_private_hosts, self.allowed_private_networks)
