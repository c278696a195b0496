"""Names for the coordinators seeded from the settings.

STORYDESK_COORDINATORS gives platform ids only, so a seeded coordinator would show as
`U0123ABCD` until they first act. At start-up each coordinator still known only by their
id is looked up in their platform's directory (Slack users.info, the Mattermost users
API) for a display name and a time zone. The member row is the cache: a coordinator with
a name is not asked for again, and a platform that cannot answer is tried next start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.commands import Caller, Directory
from handlers.members import coordinators, ensure_member
from storage.db import read_session, write_session

log = logging.getLogger(__name__)


def name_coordinators(engine: Engine, directories: Mapping[str, Directory],
                      now: datetime) -> int:
    """Fill in the names and zones the platforms know; how many coordinators were named."""
    with read_session(engine) as session:
        unnamed = [(m.platform, m.user_id) for m in coordinators(session)
                   if m.display_name == m.user_id and m.platform in directories
                   and m.platform != "console"]
    found: list[Caller] = []
    for platform, user_id in unnamed:
        try:
            caller = directories[platform].lookup(user_id)
        except Exception as error:  # the platform cannot answer now: next start asks again
            log.warning("no profile for coordinator %s:%s: %s", platform, user_id, error)
            continue
        if caller is not None and caller.display_name and caller.display_name != user_id:
            found.append(Caller(platform, user_id, caller.display_name, caller.timezone,
                                caller.locale))
    if not found:
        return 0
    with write_session(engine) as session:
        for caller in found:
            ensure_member(session, caller.platform, caller.user_id, caller.display_name, now,
                          timezone=caller.timezone, locale=caller.locale)
    log.info("named %d coordinators from their platforms", len(found))
    return len(found)
