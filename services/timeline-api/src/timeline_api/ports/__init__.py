"""The small interfaces the use cases need, by area; adapters implement them, fakes stand in.

- ``ports.timelines``: the timeline read model (``TimelineReader`` for the tabs,
  ``ProjectionStore`` and ``TimelineFeed`` for the projection, ``Conversations`` for one
  thread);
- ``ports.records``: the records (``RecordReader``, ``RecordStore``, ``RecordOwner``);
- ``ports.accounts``: workspaces and accounts (``Directory``, ``SyncStatuses``,
  ``SignIns``, ``ConnectionChecker``, ``Consent``);
- ``ports.push``: provider notifications (``PushTokens``, ``PushMarks``, ``PushAccounts``);
- ``ports.operations``: every service's dead letters (``DeadLetters``) and replays
  (``ReplayLog``, ``ReplayJobs``);
- ``ports.common``: publishing on the bus and the database's ``Health``.

The MongoDB adapters are in ``timeline_api.adapters``, the in-memory fakes in
``timeline_api.adapters.memory``; one contract test suite runs against both.
"""
