"""The timeline API's adapters: MongoDB, Kafka, the OAuth providers and the protocol
checks, each behind a port of ``timeline_api.ports``."""
