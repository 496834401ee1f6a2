"""The settings every service has. Each service subclasses this with its own env prefix."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_schemas.topics import Topics


class ServiceSettings(BaseSettings):
    """Connection and runtime settings common to every service."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_publish_timeout_ms: int = Field(
        default=15_000,
        ge=1_000,
        description="How long a bulk publish waits for Kafka's acknowledgement before Kafka "
        "counts as unavailable: the message waits, the producer is started anew, and the "
        "publish is tried again.",
    )
    mongo_url: SecretStr = SecretStr("mongodb://127.0.0.1:27017/")
    mongo_db: str = "crm"
    topic_prefix: str = "crm"
    group_prefix: str = Field(default="crm", description="Prefix of Kafka consumer group ids.")
    secrets_key: SecretStr = Field(
        default=SecretStr(""),
        description="Fernet key (urlsafe base64 of 32 bytes) for passwords and tokens at rest;"
        " several, comma-separated, while rotating (the first seals). No default: a service"
        " without one refuses to start; the local stack generates one (scripts/stack.sh env).",
    )
    handler_attempts: int = Field(
        default=5, ge=1, description="Attempts at one message before it is dead-lettered."
    )
    retry_max_wait_s: float = Field(default=5.0, gt=0)
    batch_max_records: int = Field(
        default=100, ge=1, description="Most records a batching consumer takes per poll."
    )
    batch_timeout_ms: int = Field(default=100, ge=1, description="How long a poll waits.")
    retry_later_max_s: float = Field(
        default=60.0, gt=0, description="How long a message waits for a config it needs."
    )
    outage_hold_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a consumer holds a poll while it waits for Kafka, MongoDB or "
        "another dependency, before handing it back to Kafka uncommitted to be polled again "
        "(it keeps the consumer in its group); sooner when a rebalance takes the poll's "
        "partitions or the service stops. Shorter than handler_stall_s (checked).",
    )
    outage_max_wait_s: float = Field(
        default=5.0, gt=0, description="Longest pause between tries while a dependency is down."
    )
    start_patience_s: float = Field(
        default=120.0,
        gt=0,
        description="How long the start (indexes, read models) waits for Kafka or MongoDB "
        "to be back before the process gives up and exits, to be restarted.",
    )
    consumer_instance_id: str = Field(
        default="",
        description="A stable name of this replica (e.g. its pod's name) for Kafka's static "
        "group membership: a replica restarted under the same name takes its partitions back "
        "at once, without a rebalance. Empty: dynamic membership.",
    )
    consumer_session_timeout_ms: int = Field(
        default=6_000,
        ge=6_000,
        description="How long Kafka waits without a heartbeat before it gives a consumer's "
        "partitions to the others: how long a crashed consumer's partitions stall (the "
        "broker's group.min.session.timeout.ms, 6 s by default, is the least it takes).",
    )
    consumer_heartbeat_interval_ms: int = Field(
        default=2_000,
        ge=100,
        description="How often a consumer tells Kafka it is alive (a third of the session).",
    )
    consumer_max_poll_interval_ms: int = Field(
        default=300_000,
        ge=10_000,
        description="Longest a consumer may take over one poll before Kafka removes it from its "
        "group (what it had not committed is then delivered again); at least handler_stall_s.",
    )
    slow_command_ms: float = Field(
        default=100.0, gt=0, description="Database commands slower than this are logged."
    )
    health_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of a consumer's /livez and /readyz (off when unset).",
    )
    handler_stall_s: float = Field(
        default=300.0,
        gt=0,
        description="Longest a handler may hold one poll's records: past it the consumer is not"
        " live. At most consumer_max_poll_interval_ms, past which Kafka removes it from its"
        " group (checked).",
    )
    rebalance_wait_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a rebalance waits for the records a handler holds of the"
        " partitions that move (the group's rebalance timeout too; aiokafka's default is the"
        " 10 s session timeout). Longer than a handler takes, or a partition's next owner"
        " may start while the previous one still works on it.",
    )
    shutdown_grace_s: float = Field(
        default=20.0,
        ge=0,
        description="On SIGTERM, how long the poll in hand may take to be finished and"
        " committed before it is cancelled (keep it under terminationGracePeriodSeconds).",
    )
    log_level: str = "INFO"
    log_json: bool = True
    otel_exporter: str = Field(
        default="none", description="'none', 'console' or 'otlp' (OTLP over HTTP)."
    )
    otel_endpoint: str = "http://127.0.0.1:4318/v1/traces"

    @model_validator(mode="after")
    def _consumers_keep_their_place(self) -> "ServiceSettings":
        """The consumer's timeouts agree: a heartbeat within the session; the liveness probe
        notices a stuck handler no later than Kafka does; a consumer waiting for an outage
        stays live, and notices a rebalance or a SIGTERM between two tries
        (docs/adr/0030)."""
        name = partial(setting_name, self)
        if self.consumer_heartbeat_interval_ms >= self.consumer_session_timeout_ms:
            raise ValueError(
                f"{name('consumer_heartbeat_interval_ms')} must be shorter than"
                f" {name('consumer_session_timeout_ms')}"
            )
        if self.handler_stall_s * 1000 > self.consumer_max_poll_interval_ms:
            raise ValueError(
                f"{name('handler_stall_s')} must be at most"
                f" {name('consumer_max_poll_interval_ms')} (in seconds): a stuck handler is"
                " seen by the liveness probe before Kafka removes the consumer from its group"
            )
        if self.outage_hold_s >= self.handler_stall_s:
            raise ValueError(
                f"{name('outage_hold_s')} must be shorter than {name('handler_stall_s')}:"
                " a consumer waiting for a dependency is not stuck, and must stay live"
            )
        if self.outage_max_wait_s >= self.rebalance_wait_s:
            raise ValueError(
                f"{name('outage_max_wait_s')} must be shorter than {name('rebalance_wait_s')}:"
                " a consumer waiting for a dependency hands its poll back between two tries"
                " when a rebalance takes its partitions"
            )
        return self

    @property
    def topics(self) -> Topics:
        """The topic names under this deployment's prefix."""
        return Topics(self.topic_prefix)

    def group(self, name: str) -> str:
        """A consumer group id under this deployment's prefix."""
        return f"{self.group_prefix}.{name}"


class ConfigurationError(Exception):
    """A setting keeps a service from starting; the message names it and the remedy."""


def setting_name(settings: ServiceSettings, field: str) -> str:
    """The environment variable a setting is read from, e.g. ``FETCHER_SECRETS_KEY``."""
    return f"{settings.model_config.get('env_prefix', '')}{field}".upper()


@contextmanager
def refuse_to_start(service: str) -> Iterator[None]:
    """Turn a ConfigurationError into one clear line on stderr and exit code 2 (no trace)."""
    try:
        yield
    except ConfigurationError as error:
        print(f"{service} cannot start: {error}", file=sys.stderr)
        raise SystemExit(2) from None
