"""The enricher's product rules: pure functions over plain data, no I/O."""
