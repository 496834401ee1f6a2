"""Settings of the runtime's integration tests: the test's own topics and groups."""

import pytest

from crm_runtime.settings import ServiceSettings


@pytest.fixture
def settings(isolated: dict[str, str]) -> ServiceSettings:
    """Fast retries, so dead-lettering shows within a test's deadline."""
    return ServiceSettings(
        kafka_bootstrap=isolated["kafka_bootstrap"],
        topic_prefix=isolated["topic_prefix"],
        group_prefix=isolated["group_prefix"],
        handler_attempts=3,
        retry_max_wait_s=0.2,
        retry_later_max_s=20,
    )
