"""The timeline API's use cases: the projection's handlers, the timelines tabs, the records
API, connecting accounts and making workspaces; over ``timeline_api.ports`` only."""
