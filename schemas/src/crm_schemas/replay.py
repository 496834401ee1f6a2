"""What a replay of the raw topics needs to know of the services that take part in it
(docs/adr/0022): which of the matcher's consumer groups process the replay topics, and
which groups must have read the settings before a replay may start.

Names before the deployment's group prefix (``ServiceSettings.group``); the names
themselves are in ``crm_schemas.groups``.
"""

from typing import Literal

from crm_schemas import groups

ReplayKind = Literal["mail", "calendar"]

MATCHER_REPLAY_GROUPS: dict[ReplayKind, str] = {
    "mail": groups.MATCHER_REPLAY_MAIL,
    "calendar": groups.MATCHER_REPLAY_CALENDAR,
}
"""The matcher's consumer group of each replay topic: its own, so live traffic on the raw
topics never waits behind a replay."""

SETTINGS_READER_GROUPS = (groups.config(groups.MATCHER), groups.config(groups.ENRICHER))
"""The services whose rules a replay applies read the config topic in these groups
(``crm_runtime.service.follow_config``): a replay starts once they have read every
settings change made before it was asked for."""
