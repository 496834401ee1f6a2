"""The timeline read models behind ``ports.timelines.TimelineReader``: ``heads`` (an index of heads
and company rosters read by ``_id``, for FerretDB) and ``indexed`` (plain indexed
queries, for MongoDB); ``TIMELINE_READ_MODEL`` chooses (``bootstrap.read_model``)."""
