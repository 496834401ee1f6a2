"""The enricher's settings (environment prefix ``ENRICHER_``)."""

from pydantic_settings import SettingsConfigDict

from crm_runtime.settings import ServiceSettings


class EnricherSettings(ServiceSettings):
    """Settings of the enricher."""

    model_config = SettingsConfigDict(env_prefix="ENRICHER_", extra="ignore", frozen=True)

    mongo_db: str = "crm_enricher"
