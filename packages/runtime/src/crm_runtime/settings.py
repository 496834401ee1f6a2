"""The settings every service has. Each service subclasses this with its own env prefix."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_schemas.topics import Topics


class ServiceSettings(BaseSettings):
    """Connection and runtime settings common to every service."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:19092"
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
        " live (Kafka's max.poll.interval.ms).",
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
