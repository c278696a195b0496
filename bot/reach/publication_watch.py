"""The publication watch, a tick job: record posts seen on Instagram, raise unrecorded slots.

On every tick it (1) raises to the team channel, on the first working morning after a
slot, every story still scheduled there (with or without Instagram); (2) when the Instagram
settings are there, it looks at the account's newest media and hands the new posts to
`handlers.publication.record_posts`: while a slot is open (its time has passed and its
story is not recorded yet, for up to a week) at most once every
STORYDESK_PUBLICATION_CHECK_MINUTES (default 10), from the slot's time; otherwise every
QUIET_EVERY (6 hours) in the team's working time (working days, outside quiet hours), from
the last successful look, so that a post nobody scheduled is announced the same working
day, never at night. The first tick ever only remembers when it was: the account's
history is nobody's news.

Only one replica looks: a check is claimed through the database (the `watch_lease` row,
like the outbox's leases), whose `checked_at` spaces the checks out across every replica.
One check is one `/{ig-user-id}/media` request (a second page only if more than 50 posts
went out since the slot or the last look), so the watch costs at most six Graph API calls
an hour while a slot is open, and at most three a day otherwise: far inside Meta's rate
limits.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.reach.instagram import GraphClient, GraphError, Media
from config.settings import Settings
from handlers import publication
from handlers.context import Policy
from handlers.timing import is_allowed
from storage.db import read_session, write_session
from storage.publication import WatchLease

log = logging.getLogger(__name__)

LEASE_NAME = "instagram-media"
LEASE = timedelta(minutes=5)  # a check that takes longer than this is taken over
QUIET_EVERY = timedelta(hours=6)  # with no slot open: a look at what went out since the last


@dataclass
class WatchTick:
    raised: list[int] = field(default_factory=list)
    checked: bool = False
    report: publication.WatchReport | None = None
    error: str = ""


def watch_client(settings: Settings) -> GraphClient:
    """A client that gives up quickly: the next check comes in a few minutes anyway."""
    return GraphClient(settings.graph_api_url, settings.graph_api_version,
                       settings.instagram_access_token, settings.instagram_user_id,
                       timeout=min(20.0, float(settings.send_timeout_seconds)), attempts=2,
                       max_wait=10.0)


def claim_check(engine: Engine, owner: str, now: datetime, every: timedelta) -> bool:
    """Take the watch's lease if a check is due and nobody else holds it."""
    try:
        with write_session(engine) as session:
            row = session.get(WatchLease, LEASE_NAME, with_for_update=True)
            if row is None:
                session.add(WatchLease(name=LEASE_NAME, owner=owner, lease_until=now + LEASE))
                session.flush()
                return True
            if row.checked_at is not None and now < row.checked_at + every:
                return False
            if row.lease_until is not None and row.lease_until > now and row.owner != owner:
                return False
            row.owner, row.lease_until = owner, now + LEASE
            session.add(row)
    except IntegrityError:  # another replica inserted the row first
        return False
    return True


def as_post(media: Media) -> publication.Post:
    return publication.Post(media.media_id, media.permalink, media.caption, media.timestamp)


class PublicationWatch:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        policy: Policy,
        *,
        client_factory: Callable[[Settings], GraphClient] = watch_client,
        owner: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.policy = policy
        self.client_factory = client_factory
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:watch"
        self.every = timedelta(minutes=settings.publication_check_minutes)

    def __call__(self, now: datetime) -> WatchTick:
        return self.tick(now)

    def tick(self, now: datetime) -> WatchTick:
        result = WatchTick()
        with write_session(self.engine) as session:
            result.raised = publication.raise_unrecorded(session, now, self.policy)
        if self.settings.instagram_enabled:
            self.check(now, result)
        return result

    def check(self, now: datetime, result: WatchTick) -> None:
        with read_session(self.engine) as session:
            since, slot_open = publication.look_from(session, now)
        if since is None:  # the first tick ever: from here on, every post is news
            with write_session(self.engine) as session:
                if publication.looked_until(session) is None:
                    publication.remember_look(session, now)
            return
        if not slot_open and not is_allowed(now, self.policy.zone, self.policy.reminders):
            return  # what a look finds goes to the team: the next one in working time
        every = self.every if slot_open else QUIET_EVERY
        if not claim_check(self.engine, self.owner, now, every):
            return
        result.checked = True
        posts: list[publication.Post] | None = None
        try:
            with self.client_factory(self.settings) as client:
                posts = [as_post(m) for m in client.media_since(since)]
        except GraphError as error:
            result.error = error.message
            log.warning("publication watch: the Graph API refused the media list: %s",
                        error.message)
        except OSError as error:
            result.error = str(error)
            log.warning("publication watch: %s", error)
        with write_session(self.engine) as session:
            if posts is not None:
                result.report = publication.record_posts(session, now, self.policy, posts)
                publication.remember_look(session, now)
            row = session.get(WatchLease, LEASE_NAME, with_for_update=True)
            if row is not None:
                # A failed check counts as a check: the next one comes after the interval,
                # never in a burst against a failing API.
                row.checked_at, row.lease_until, row.owner = now, None, None
                session.add(row)
        if result.report and (result.report.recorded or result.report.asked
                              or result.report.announced):
            log.info("publication watch: recorded %s, asked about %s, announced %d",
                     result.report.recorded, result.report.asked,
                     len(result.report.announced))


def publication_job(engine: Engine, settings: Settings, policy: Policy) -> PublicationWatch:
    """The tick job the composition root adds to the runtime's jobs."""
    return PublicationWatch(engine, settings, policy)
