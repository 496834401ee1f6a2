"""The contracts between the services: every event on every topic, and the topic names.

A field added here is added on purpose: bump the model's ``schema_version`` when a change
is not backwards compatible, and keep old versions readable until every topic is replayed.
"""
