"""The timeline API: records, timelines and connected accounts over HTTP, and the
projection that keeps its MongoDB read model.

Layers, outside in (checked by the import contracts in the repository's pyproject.toml):
``entrypoints`` (the HTTP app, the projection's consumers, ``crm-admin``) and
``bootstrap`` (the composition root); ``api`` (routers) beside ``adapters`` (MongoDB,
Kafka, OAuth, protocol checks); ``service`` (use cases); ``ports``; ``domain`` (pure).

The areas, each with its modules in those layers:

- workspaces and accounts: ``api.workspace``, ``api.accounts``, ``api.oauth_routes``;
  ``service.workspaces``, ``service.accounts``; ``adapters.directory``,
  ``adapters.connection_check``, ``adapters.oauth``; ``domain.access``,
  ``domain.connection``, ``domain.sync_status`` (``service.account_actions``: what the
  API and the web app both do with accounts);
- replays of history (docs/replay.md): ``api.replay``; ``service.replay``;
  ``adapters.replay_log``, ``adapters.replay_jobs``; ``domain.replay``,
  ``domain.copies``;
- the records API: ``api.records``, ``api.record_changes``, ``api.opportunities``;
  ``service.records``; ``adapters.records``, ``adapters.record_owner`` (the enricher,
  the one writer of people and companies, asked over Kafka);
  ``domain.ownership``;
- the timeline read model: ``api.timelines``, ``api.explain``; ``service.timelines``,
  ``service.projection``; ``adapters.timeline_store`` and the projection's writes beside
  it, ``adapters.timelines`` (the read models: ``heads``, ``indexed``); ``domain.scope``,
  ``domain.records``, ``domain.threads``, ``domain.visibility``.
"""
