"""The enricher's adapters."""
