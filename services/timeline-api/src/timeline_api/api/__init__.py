"""HTTP entrypoints: thin routers that translate a request into store reads and domain calls."""
