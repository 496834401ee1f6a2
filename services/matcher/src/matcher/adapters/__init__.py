"""The matcher's adapters."""
