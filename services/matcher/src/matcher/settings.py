"""The matcher's settings (environment prefix ``MATCHER_``)."""

from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class MatcherSettings(ServiceSettings):
    """Settings of the matcher."""

    model_config = SettingsConfigDict(env_prefix="MATCHER_", extra="ignore", frozen=True)

    mongo_db: str = "crm_matcher"
