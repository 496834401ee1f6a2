"""The timeline API's settings: the common ones, plus where it listens."""

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class TimelineSettings(ServiceSettings):
    """Settings of the timeline API, read from ``TIMELINE_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="TIMELINE_", extra="ignore", frozen=True)

    mongo_db: str = "crm_timeline"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    consume: bool = Field(
        default=True, description="Run the projection consumers in the API process."
    )
    read_model: Literal["heads", "indexed"] = Field(
        default="heads",
        description="How the timelines tabs are read: 'heads' (an index of heads and company"
        " rosters read by _id, for FerretDB) or 'indexed' (plain indexed queries, for"
        " MongoDB).",
    )
    records_wait_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a change of a person or a company waits for the enricher's"
        " answer, and then for the read model to show it.",
    )
    health_timeout_s: float = Field(default=2.0, gt=0, description="How long /healthz waits.")
    replay_slice_s: float = Field(
        default=5.0,
        gt=0,
        description="How long a replay job copies before it is put back on the jobs topic to"
        " carry on; at most half of TIMELINE_REBALANCE_WAIT_S, so a rebalance lets a slice"
        " end before the job's next owner may start it (docs/replay.md).",
    )
    allow_private_hosts: bool = Field(
        default=False,
        description="Let accounts point at loopback, link-local and private addresses"
        " (the local stack and the tests need it; keep it off in production: SSRF).",
    )
    allowed_private_networks: tuple[str, ...] = Field(
        default=(),
        description="Private networks (CIDR) accounts may point at even so, e.g. a mail"
        " server of the deployment's own.",
    )
    connect_timeout_s: float = Field(
        default=15.0, gt=0, description="How long 'test the connection' waits per protocol."
    )
    lookup_wait_s: float = Field(
        default=3.0,
        ge=0,
        description="How long explain waits for the mailboxes to say where a message never"
        " seen is, before it answers 202 'searching'.",
    )
    lookup_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="After this long, a mailbox that has not answered a lookup counts as"
        " not answering.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Where users reach this API; OAuth providers redirect back under it.",
    )
    web_session_hours: float = Field(
        default=12, gt=0, description="How long a web app session lasts after signing in."
    )
    sign_in_link_minutes: float = Field(
        default=15, gt=0, description="How long a sign-in link from crm-admin stays valid."
    )
    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")
    google_auth_uri: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_uri: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    microsoft_client_id: str = ""
    microsoft_client_secret: SecretStr = SecretStr("")
    microsoft_authority: str = Field(
        default="https://login.microsoftonline.com/common",
        description="The Microsoft identity platform authority (tenant or 'common').",
    )
    # Provider notifications (docs/push.md).
    push_google_service_account: str = Field(
        default="",
        description="The service account whose OIDC token Gmail's Pub/Sub push subscription"
        " sends (its email claim); empty: Gmail notifications are refused.",
    )
    push_google_audience: str = Field(
        default="",
        description="The audience of that token, as set on the push subscription; empty:"
        " the push endpoint's URL under TIMELINE_PUBLIC_URL (Pub/Sub's default).",
    )
    push_google_certs_url: str = Field(
        default="https://www.googleapis.com/oauth2/v3/certs",
        description="Google's signing keys as a JWKS (tests: the emulator's).",
    )
    push_coalesce_s: float = Field(
        default=1.0,
        gt=0,
        description="A flood of notifications for one account and kind in this window"
        " shares one sync (and one more at the window's end).",
    )
    oauth_ca_bundle: str | None = Field(
        default=None,
        description="CA bundle to trust for the OAuth endpoints and Google's signing keys"
        " (tests: the emulator's);"
        " default: the system's.",
    )

    @model_validator(mode="after")
    def _slice_ends_within_a_rebalance(self) -> Self:
        if self.replay_slice_s * 2 > self.rebalance_wait_s:
            raise ValueError(
                "TIMELINE_REPLAY_SLICE_S must be at most half of TIMELINE_REBALANCE_WAIT_S:"
                " a rebalance waits that long for a replay slice to end before another"
                " replica may run the job"
            )
        return self
