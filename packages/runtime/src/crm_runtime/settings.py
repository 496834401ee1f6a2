"""The settings every service has. Each service subclasses this with its own env prefix."""

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_schemas.topics import Topics

# A Fernet key used only by the local stack and tests; production sets its own.
LOCAL_SECRETS_KEY = "bG9jYWwtc3RhY2stb25seS1rZXktbm90LTQtcHJvZCE="


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
        default=SecretStr(LOCAL_SECRETS_KEY),
        description="Fernet key (urlsafe base64 of 32 bytes) for passwords and tokens at rest.",
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
        "(it keeps the consumer in its group). Keep it well under consumer_max_poll_interval_ms.",
    )
    outage_max_wait_s: float = Field(
        default=5.0, gt=0, description="Longest pause between tries while a dependency is down."
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
        "group (what it had not committed is then delivered again).",
    )
    slow_command_ms: float = Field(
        default=100.0, gt=0, description="Database commands slower than this are logged."
    )
    log_level: str = "INFO"
    log_json: bool = True
    otel_exporter: str = Field(
        default="none", description="'none', 'console' or 'otlp' (OTLP over HTTP)."
    )
    otel_endpoint: str = "http://127.0.0.1:4318/v1/traces"

    @model_validator(mode="after")
    def _consumers_keep_their_place(self) -> "ServiceSettings":
        if self.outage_hold_s * 1000 >= self.consumer_max_poll_interval_ms:
            raise ValueError("outage_hold_s must be shorter than consumer_max_poll_interval_ms")
        if self.consumer_heartbeat_interval_ms >= self.consumer_session_timeout_ms:
            raise ValueError(
                "consumer_heartbeat_interval_ms must be shorter than consumer_session_timeout_ms"
            )
        return self

    @property
    def topics(self) -> Topics:
        """The topic names under this deployment's prefix."""
        return Topics(self.topic_prefix)

    def group(self, name: str) -> str:
        """A consumer group id under this deployment's prefix."""
        return f"{self.group_prefix}.{name}"
