"""`storydesk demo`: the console on a throwaway database with a believable group."""

from __future__ import annotations

import random
import tempfile
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

from sqlmodel import Session, select

from bot.console.adapter import ConsoleTransport, run_console
from bot.runtime import build_runtime
from config.settings import Settings
from handlers import calendar, members, reminders, stories
from handlers.context import Policy
from handlers.reach import store as reach
from handlers.stories import PitchForm
from storage.db import write_session
from storage.delivery import DeliveryNotice
from storage.models import Member, Outbound, Story

COORDINATORS = ("Lucia", "Andrea", "Freya")
CONTRIBUTORS = (
    "Ben",
    "Chloe",
    "Dmitri",
    "Elif",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Luca",
    "Mira",
)

TOUR = """\
Welcome to the Storydesk demo: a physics group of 15 with three coordinators
(Lucia, Andrea, Freya), stories in every state and three months of Instagram figures.
You are Ben, a contributor.
Try, one line at a time:
  /story list                       what is open
  /pitch Muon tomography of a volcano #outreach #reel -- how cosmic rays see inside
  /story show 1                     a story with its history
  /as Lucia                         become a coordinator
  /story accept 1 due {due}
  /story calendar                   slots, events, free slots
  /story reach                      last week's reach against the week before
  :advance 3d                       time passes; reminders arrive
  /story help                       everything else
End of input (Ctrl-D) or :quit leaves. Nothing here touches a real workspace."""


def seed_demo(session: Session, policy: Policy, now: datetime) -> None:
    """A group with history: every lifecycle state, a cadence, two events."""
    people: dict[str, Member] = {}
    start = now - timedelta(days=60)
    for name in COORDINATORS + CONTRIBUTORS:
        people[name] = members.ensure_member(session, "console", name.lower(), name, start)
    for name in COORDINATORS:
        people[name].role = members.COORDINATOR
        session.add(people[name])
    session.flush()
    lucia = people["Lucia"]

    def pitch(
        author: str, title: str, objective: str, fmt: str, summary: str, days_ago: float
    ) -> int:
        reply = stories.pitch(
            session,
            people[author],
            now - timedelta(days=days_ago),
            policy,
            PitchForm(title=title, summary=summary, objective=objective, format=fmt),
        )
        assert reply.story_id is not None
        return reply.story_id

    def at(days_ago: float) -> datetime:
        return now - timedelta(days=days_ago)

    # Pitched, waiting for a decision.
    pitch(
        "Chloe",
        "What a trigger decides in 25 nanoseconds",
        "outreach",
        "reel",
        "The first filter of CMS, explained with a coffee queue.",
        1,
    )
    pitch(
        "Hiro",
        "A day on night shift in the control room",
        "recruitment",
        "story",
        "From 23:00 to 07:00 with the shift crew.",
        0.5,
    )
    # Accepted and drafting.
    s = pitch(
        "Dmitri",
        "Top quarks, weighed",
        "scicomm",
        "carousel",
        "Our new top-mass measurement in six slides.",
        20,
    )
    stories.accept(session, lucia, at(19), policy, s, (at(19) + timedelta(days=16)).date())
    s = pitch(
        "Elif",
        "My first conference talk",
        "training",
        "reel",
        "What I learned presenting at a big conference.",
        18,
    )
    stories.accept(
        session, people["Andrea"], at(17), policy, s, (at(17) + timedelta(days=14)).date()
    )
    stories.start_drafting(session, people["Elif"], at(16), policy, s)
    # In review, and changes requested.
    s = pitch(
        "Farid",
        "Building a pixel module by hand",
        "recruitment",
        "reel",
        "Wire bonding under the microscope.",
        30,
    )
    stories.accept(
        session, people["Freya"], at(29), policy, s, (at(29) + timedelta(days=14)).date()
    )
    stories.submit_draft(
        session, people["Farid"], at(5), policy, s, "https://docs.example.org/d/pixel-module"
    )
    s = pitch(
        "Greta",
        "Why the Higgs boson is not the end",
        "outreach",
        "carousel",
        "Open questions after 2012.",
        35,
    )
    stories.accept(session, lucia, at(34), policy, s, (at(34) + timedelta(days=14)).date())
    stories.submit_draft(
        session, people["Greta"], at(12), policy, s, "https://docs.example.org/d/higgs-not-the-end"
    )
    stories.request_changes(
        session,
        people["Andrea"],
        at(10),
        policy,
        s,
        "Shorter captions, and one slide on dark matter.",
    )
    # Approved, scheduled, published.
    s = pitch(
        "Ines",
        "Cosmic rays in the cloud chamber",
        "outreach",
        "reel",
        "A homemade cloud chamber at the open day.",
        40,
    )
    stories.accept(session, lucia, at(39), policy, s, (at(39) + timedelta(days=14)).date())
    stories.submit_draft(
        session, people["Ines"], at(20), policy, s, "https://docs.example.org/d/cloud-chamber"
    )
    stories.approve(session, people["Freya"], at(3), policy, s, unscheduled=True)
    for author, title, objective, fmt in (
        ("Jonas", "Coffee, code and collisions", "recruitment", "reel"),
        ("Kemi", "A new limit on dark photons", "scicomm", "collab"),
    ):
        s = pitch(author, title, objective, fmt, "", 45)
        stories.accept(session, lucia, at(44), policy, s, (at(44) + timedelta(days=14)).date())
        stories.submit_draft(
            session, people[author], at(30), policy, s, f"https://docs.example.org/d/{s}"
        )
        stories.approve(session, people["Andrea"], at(25), policy, s, unscheduled=True)
        stories.schedule(session, lucia, now, policy, s, None)
    for index, (author, title, objective, fmt) in enumerate(
        (
            ("Luca", "The photoelectric effect in a minute", "outreach", "reel"),
            ("Mira", "Meet the people behind the tracker upgrade", "scicomm", "carousel"),
            ("Ben", "Lunch at the lab: the canteen debate", "recruitment", "story"),
        )
    ):
        s = pitch(author, title, objective, fmt, "", 58 - index * 10)
        stories.accept(session, lucia, at(57 - index * 10), policy, s, None)
        stories.submit_draft(
            session,
            people[author],
            at(50 - index * 10),
            policy,
            s,
            f"https://docs.example.org/d/{s}",
        )
        stories.approve(session, people["Freya"], at(48 - index * 10), policy, s)
        stories.publish(
            session, lucia, at(40 - index * 10), policy, s, f"https://www.instagram.com/p/demo{s}/"
        )
    # Declined and withdrawn.
    s = pitch("Ben", "A thousand-slide history of the detector", "outreach", "carousel", "", 26)
    stories.decline(
        session,
        people["Freya"],
        at(25),
        policy,
        s,
        "Too long for Instagram; could it be three reels?",
    )
    s = pitch("Chloe", "Ski trip of the group", "recruitment", "post", "", 15)
    stories.withdraw(session, people["Chloe"], at(14), policy, s)
    # Events and one away period.
    zone = policy.zone
    for days, title in ((9, "Open day at the lab"), (23, "Physics in the pub talk")):
        day = (now + timedelta(days=days)).astimezone(zone).date()
        when = datetime.combine(day, time(17, 0), tzinfo=zone).astimezone(UTC)
        calendar.add_event(session, lucia, at(1), policy, when, title, is_slot=False)
    today = now.astimezone(zone).date()
    members.add_away(
        session, people["Freya"], today + timedelta(days=20), today + timedelta(days=27), today
    )
    seed_reach(session, now)
    # The seeded history's messages and reminders were sent long ago: keep the console quiet.
    reminders.run_tick(session, now, policy)
    for row in session.exec(select(Outbound).where(Outbound.status == "pending")).all():
        row.status = "sent"
        row.sent_at = row.created_at
        session.add(row)
    for notice in session.exec(select(DeliveryNotice)).all():
        notice.reported_at = now
        session.add(notice)
    session.flush()


def seed_reach(session: Session, now: datetime) -> None:
    """Thirteen weeks of a young account's figures, growing with day-to-day noise."""
    rng = random.Random(2023)
    today = now.date()
    daily: list[reach.DailyFigure] = []
    followers = 1480
    for back in range(91, 0, -1):
        day = today - timedelta(days=back)
        growth = 1 + (91 - back) / 120
        reached = int(rng.uniform(260, 420) * growth)
        non_followers = int(reached * rng.uniform(0.62, 0.74))
        followers += rng.randint(0, 9)
        daily += [
            reach.DailyFigure(day, "accounts_reached", reached),
            reach.DailyFigure(day, "non_followers_reached", non_followers),
            reach.DailyFigure(day, "views", int(reached / rng.uniform(0.36, 0.46))),
            reach.DailyFigure(day, "followers", followers),
        ]
    reach.store_daily(session, daily, source="graph_api", now=now)
    published = session.exec(select(Story).where(Story.state == "published")).all()
    posts = [
        reach.PostFigures(
            media_id=f"1790000000000{story.id:04d}",
            permalink=story.permalink,
            published_at=story.published_at,
            post_type="REEL",
            reach=rng.randint(900, 4200),
            views=rng.randint(2500, 9000),
            likes=rng.randint(40, 300),
            comments=rng.randint(2, 30),
            shares=rng.randint(3, 60),
            saves=rng.randint(5, 80),
        )
        for story in published
    ]
    reach.store_posts(session, posts, source="graph_api", now=now)
    for breakdown, values in (
        (
            "age",
            {
                "13-17": 30,
                "18-24": 520,
                "25-34": 610,
                "35-44": 210,
                "45-54": 90,
                "55-64": 40,
                "65+": 15,
            },
        ),
        ("country", {"DE": 460, "CH": 120, "IT": 95, "ES": 80, "IN": 70, "US": 65}),
        ("gender", {"F": 380, "M": 1090, "U": 45}),
    ):
        reach.store_audience(
            session, today - timedelta(days=1), breakdown, values, source="graph_api", now=now
        )


def run_demo(
    settings: Settings, out: TextIO, lines: list[str] | None = None, now: datetime | None = None
) -> int:
    now = now or datetime.now(UTC).replace(second=0, microsecond=0)
    with tempfile.TemporaryDirectory(prefix="storydesk-demo-") as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        demo_settings = replace(settings, database_url=url, coordinators=())
        runtime = build_runtime(
            demo_settings, platforms=("console",), transports={"console": ConsoleTransport(out)}
        )
        with write_session(runtime.engine) as session:
            seed_demo(session, runtime.policy, now)
        intro = TOUR.format(
            due=(now + timedelta(days=10)).astimezone(runtime.policy.zone).date().isoformat()
        )
        code = run_console(runtime, "Ben", lines=lines, out=out, now=now, intro=intro)
        runtime.engine.dispose()
        return code
