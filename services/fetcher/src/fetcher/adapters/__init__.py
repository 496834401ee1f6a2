"""The fetcher's adapters: one module per external system."""
