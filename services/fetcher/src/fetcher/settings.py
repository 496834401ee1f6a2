"""The fetcher's settings: environment variables prefixed ``FETCHER_``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

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
    calendar_read_timeout_s: float = Field(
        default=300,
        gt=0,
        description="How long a CalDAV server may take to answer one request: the first "
        "listing of a large calendar is computed whole before its first byte.",
    )
