"""Benchmark: a quarter of a 77-member group with 3 coordinators, on a simulated clock.

Everything goes through the command runner (the same entry as Slack, Mattermost and the
console), the reminder tick and the outbox dispatcher with the team's rules, with a
transport that records what it is handed. The clock ticks every simulated hour. People
act only when something reaches them: a direct message, a team-channel post (the
coordinators), a call for pitches in the group channel (everyone). Each story's author is
punctual (drafts when reminded before the date), late (after an overdue reminder) or never
finishes; coordinators accept or decline assignments, approve or ask for changes, leave
drafts long overdue to Storydesk's release, take a week away each, and record each post as
published after its slot (or, with Instagram connected, let the bot's publication watch
record it). Seeded randomness: the same seed gives the same quarter.

Measured over the 13 weeks after an 8-week warm-up that fills the pipeline: coordinator
commands per published story (target <= 3.5 without Instagram), publication slots missed
and how many of those without a warning in the team channel (target 0), direct messages
per member-week (mean and max), direct messages delivered in quiet hours, on days off or
while away (target 0), reminders whose day count is wrong on the day they arrive (target
0), and the wall time.

Variants: pitches accepted `by hand` (the default) or with `lazy acceptance`
(STORYDESK_AUTO_ACCEPT_HOURS=16, the setup the README recommends for this group:
coordinators only act on pitches to decline them), each with `coordinators record` (a
coordinator types `/story published N <link>`) or `Instagram connected` (target <= 2.5
commands per story): the settings carry an Instagram token and user id and
GRAPH_API_URL points at a local Graph API fake
(tests/reach/graph_server.py, started in-process). Coordinators post each scheduled story
on the fake account some minutes after its slot, most with a caption naming the title,
some without (the watch then asks the team, and a coordinator presses "Yes, it is #N"),
and now and then a post nobody scheduled; the real publication job, run at every
simulated tick, records them. Nobody types `published` in that variant.

Run: `make bench` or `.venv/bin/python bench/quarter.py [--seeds 10,11,12] [--jobs 2]`.
"""

from __future__ import annotations

import argparse
import heapq
import os
import platform
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from statistics import median, quantiles
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.commands import Caller, CommandRunner
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.transport import Delivery, SendResult
from bot.reach.publication_watch import PublicationWatch, WatchTick, publication_job
from config.settings import Settings, load_settings
from handlers import reminders
from handlers.context import Policy, ReminderRules
from handlers.decisions import CadenceSlot, cadence_slots
from handlers.members import seed_coordinators
from handlers.reply import Paragraph
from handlers.timing import is_allowed, zone_named
from storage import migrate
from storage.db import make_engine, read_session, write_session
from storage.models import Member, Outbound, Story, StoryEvent

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchlib import write_section  # noqa: E402

from tests.reach.graph_server import TOKEN, USER, VERSION, Account, GraphServer  # noqa: E402

SECTION = "A quarter of coordination"
TEAM_ZONE = "Europe/Berlin"
START = datetime(2027, 1, 4, 0, 0, tzinfo=ZoneInfo(TEAM_ZONE)).astimezone(UTC)  # a Monday
WARMUP_WEEKS = 8
WEEKS = 13
MEMBERS = 77
COORDINATORS = 3
CALL_RESPONDERS = (4, 7)  # members who pitch after a call for pitches
OBJECTIVES = ("outreach", "scicomm", "training", "recruitment")
FORMATS = ("reel", "post", "carousel")
PROFILES = (("punctual", 0.55), ("late", 0.30), ("never", 0.15))
DECLINE = 0.15
CHANGES = 0.25
WITHDRAW_ON_ESCALATION = 0.5
IN_FLIGHT = ("pitched", "accepted", "drafting", "in_review", "changes_requested", "scheduled")
BOOKKEEPING = ("published", "schedule", "confirm_post", "posted")  # the rest are decisions
UNSURE_CAPTION = 0.2  # posts whose caption does not name the story's title
UNSCHEDULED_A_WEEK = 0.4  # chance of a post nobody scheduled in a week
UNSURE_CAPTIONS = ("New reel is up, link in bio ✨", "Swipe through for the full picture 👉",
                   "Out now! Tell us what you think in the comments")
UNSCHEDULED_CAPTIONS = ("Congratulations to our new PhDs! 🎓", "Behind the scenes at the "
                        "cryo lab", "Happy holidays from the whole institute", "Open day "
                        "this Saturday: come and visit")

Intent = Callable[[datetime], None]


@dataclass
class Person:
    caller: Caller
    coordinator: bool
    away: tuple[tuple[date, date], ...] = ()

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.caller.timezone, ZoneInfo(TEAM_ZONE))


@dataclass
class Recording:
    """The transport: remembers every delivery with the simulated time it went out."""

    platform: str = "console"
    at: datetime = START
    sent: list[tuple[datetime, Delivery]] = field(default_factory=list)

    def send(self, delivery: Delivery) -> SendResult:
        self.sent.append((self.at, delivery))
        return SendResult(f"m{delivery.outbound_id}", channel_id="C1")


@dataclass
class Result:
    name: str
    published: int = 0
    commands: Counter[str] = field(default_factory=Counter)
    slots: int = 0
    missed: int = 0
    missed_unwarned: int = 0
    dms: int = 0
    dms_per_member: dict[int, int] = field(default_factory=dict)
    max_per_member_day: int = 0
    outside_hours: int = 0
    wrong_day_counts: int = 0
    day_counts_checked: int = 0
    pitched: int = 0
    withdrawn: int = 0  # by a coordinator's command
    released: int = 0  # by Storydesk, the draft not having come
    instagram: bool = False
    lazy: bool = False  # lazy acceptance: pitches not declined are accepted by Storydesk
    posts: int = 0  # posted on the account for a scheduled story
    unscheduled_posts: int = 0
    unsure_posts: int = 0  # of `posts`, with a caption not naming the title
    watch_checks: int = 0
    watch_recorded: int = 0
    watch_asked: int = 0
    watch_announced: int = 0
    watch_errors: int = 0
    raised_unrecorded: int = 0
    in_flight_start: int = 0  # stories between pitch and publication when measuring starts
    in_flight_end: int = 0  # and when it ends
    pitch_to_post_days: list[float] = field(default_factory=list)  # of the stories published
    seed: int = 0
    wall_seconds: float = 0.0

    @property
    def coordinator_commands(self) -> int:
        return sum(self.commands.values())  # `away` is sent uncounted


def instagram_settings(graph: GraphServer) -> Settings:
    """The settings a team with Instagram connected starts with, the Graph API being the
    local fake: the same loader as `storydesk run`, from these variables only."""
    return load_settings({"INSTAGRAM_ACCESS_TOKEN": TOKEN, "INSTAGRAM_USER_ID": USER,
                          "GRAPH_API_URL": graph.url, "GRAPH_API_VERSION": VERSION,
                          "STORYDESK_TIMEZONE": TEAM_ZONE}, env_file=None)


class Quarter:
    def __init__(self, name: str, seed: int, policy: Policy, workdir: Path,
                 graph: GraphServer | None = None) -> None:
        self.result = Result(name, instagram=graph is not None, seed=seed,
                             lazy=policy.auto_accept_hours is not None)
        self.rng = random.Random(seed)
        # The account's own randomness (delays, captions, extra posts): the people's
        # choices stay the same draws as in the other variants.
        self.posting = random.Random(seed * 7919 + 1)
        settings = instagram_settings(graph) if graph is not None else Settings()
        policy = replace(policy, instagram_watch=settings.instagram_enabled)
        self.policy = policy
        self.graph = graph
        self.engine = make_engine(f"sqlite:///{workdir / (name.replace(' ', '-') + '.db')}")
        migrate.upgrade(self.engine)
        self.runner = CommandRunner(self.engine, policy)
        self.transport = Recording()
        # One sending thread: deliveries in a fixed order keep a seeded run repeatable.
        self.dispatcher = Dispatcher(self.engine, {"console": self.transport}, owner="quarter",
                                     policy=policy, concurrency=1)
        # The runtime's publication job: raises unrecorded slots in every variant, and with
        # Instagram connected reads the account's media while a slot is open.
        self.watch: PublicationWatch = publication_job(self.engine, settings, policy)
        self.confirming: set[int] = set()
        self.intents: list[tuple[datetime, int, Intent]] = []
        self.sequence = 0
        self.people = self._people()
        self.by_user = {p.caller.user_id: p for p in self.people}
        self.profile: dict[int, str] = {}
        self.acted: set[tuple[int, str]] = set()
        self.measure_from = START + timedelta(weeks=WARMUP_WEEKS)
        self.end = self.measure_from + timedelta(weeks=WEEKS)
        if graph is not None:
            self.plan_unscheduled_posts()

    # --- the group ----------------------------------------------------------------------

    def _people(self) -> list[Person]:
        people = []
        for index in range(MEMBERS):
            coordinator = index < COORDINATORS
            roll = self.rng.random()
            zone = TEAM_ZONE if coordinator or roll < 0.85 else (
                "Europe/London" if roll < 0.95 else "America/New_York")
            name = f"Coordinator {index + 1}" if coordinator else f"Member {index + 1}"
            people.append(Person(Caller("console", f"u{index:02d}", name, zone), coordinator))
        with write_session(self.engine) as session:
            seed_coordinators(session, [("console", p.caller.user_id) for p in people
                                        if p.coordinator], START)
        for person in people:  # everyone is known to the bot from the start
            self.command(person, "story", "reminders on", START, counted=False)
        # Each coordinator takes one week away; a tenth of the members too.
        away_people = people[:COORDINATORS] + self.rng.sample(people[COORDINATORS:], 7)
        for index, person in enumerate(away_people):
            # Inside the measured weeks, where the away rules are checked.
            week = WARMUP_WEEKS + (1 + 4 * index if person.coordinator
                                   else self.rng.randrange(0, WEEKS - 1))
            first = (START + timedelta(weeks=week)).astimezone(person.zone).date()
            last = first + timedelta(days=6)
            person.away = ((first, last),)
            self.command(person, "story", f"away {first} {last}", START, counted=False)
        return people

    def command(self, person: Person, name: str, text: str, now: datetime,
                counted: bool = True) -> bool:
        reply = self.runner.run(person.caller, name, text, now)
        if counted and person.coordinator and now >= self.measure_from:
            self.result.commands[text.split()[0] if name == "story" else name] += 1
        return reply.ok

    def press(self, person: Person, action: str, story_id: int, version: int,
              now: datetime) -> bool:
        """A button pressed: counted as a coordinator action like a command."""
        reply = self.runner.press(person.caller, action, story_id, version, now)
        if person.coordinator and now >= self.measure_from:
            self.result.commands[action] += 1
        return reply.ok

    def later(self, person: Person, now: datetime, low: float, high: float,
              intent: Intent, rng: random.Random | None = None) -> None:
        """Act after `low`-`high` hours, in the person's own working time."""
        moment = now + timedelta(hours=(rng or self.rng).uniform(low, high))
        moment = reminders.defer(moment, reminders.Deferral(person.zone, person.away),
                                 self.policy.reminders)
        self.sequence += 1
        heapq.heappush(self.intents, (moment, self.sequence, intent))

    def story(self, story_id: int) -> Story | None:
        with read_session(self.engine) as session:
            return session.get(Story, story_id)

    # --- what people do -------------------------------------------------------------------

    def pitch(self, person: Person, now: datetime) -> None:
        objective = self.rng.choice(OBJECTIVES)
        number = self.result.pitched + 1
        reply = self.runner.run(person.caller, "pitch",
                                f"Story idea {number} #{objective} #{self.rng.choice(FORMATS)}",
                                now)
        if reply.story_id is not None:
            self.result.pitched += 1
            roll, total = self.rng.random(), 0.0
            for profile, share in PROFILES:
                total += share
                if roll < total:
                    self.profile[reply.story_id] = profile
                    break

    def once(self, story_id: int, stage: str) -> bool:
        if (story_id, stage) in self.acted:
            return False
        self.acted.add((story_id, stage))
        return True

    def on_assignment(self, coordinator: Person, story_id: int, now: datetime) -> None:
        story = self.story(story_id)
        if story is not None and story.state == "in_review":  # handed over from someone away
            self.on_draft_ready(coordinator, story_id, story.version, now)
            return
        if not self.once(story_id, "decide"):
            return
        decline = self.rng.random() < DECLINE
        if self.policy.auto_accept_hours is not None and not decline:
            return  # lazy acceptance: only a decline needs a word

        def decide(at: datetime) -> None:
            story = self.story(story_id)
            if story is None or story.state != "pitched":
                return
            if decline:
                self.command(coordinator, "story",
                             f"decline {story_id} Close to a story we just ran", at)
            else:
                self.command(coordinator, "story", f"accept {story_id}", at)

        self.later(coordinator, now, 1, 12, decide)

    def on_draft_ready(self, coordinator: Person, story_id: int, version: int,
                       now: datetime) -> None:
        if not self.once(story_id, f"review-v{version}"):
            return

        def review(at: datetime) -> None:
            story = self.story(story_id)
            if story is None or story.state != "in_review":
                return
            reviewer = self.reviewer_of(story)
            if self.rng.random() < CHANGES and story.version < 8:
                self.command(reviewer, "story", f"changes {story_id} Shorter captions", at)
            else:
                self.command(reviewer, "story", f"approve {story_id}", at)

        self.later(coordinator, now, 2, 30, review)

    def reviewer_of(self, story: Story) -> Person:
        with read_session(self.engine) as session:
            member = session.get(Member, story.reviewer_id)
        assert member is not None
        return self.by_user[member.user_id]

    def on_author_prompt(self, author: Person, story_id: int, kind: str,
                         now: datetime) -> None:
        profile = self.profile.get(story_id, "never")
        story = self.story(story_id)
        if story is None or story.state not in {"accepted", "drafting", "changes_requested"}:
            return
        ready = ((profile == "punctual" and kind in {"before", "today", "changes"})
                 or (profile == "late" and kind == "overdue"))
        if not ready or not self.once(story_id, f"submit-v{story.version}"):
            return

        def submit(at: datetime) -> None:
            current = self.story(story_id)
            if current is None or current.state not in {"accepted", "drafting",
                                                         "changes_requested"}:
                return
            self.command(author, "story",
                         f"draft {story_id} https://docs.example.org/d/{story_id}-{at:%j}", at)

        self.later(author, now, 2, 40, submit)

    def on_escalation(self, coordinator: Person, story_id: int, now: datetime,
                      released_by_the_bot: bool) -> None:
        """A draft long overdue: half the time the reviewer withdraws the story, unless the
        message says Storydesk releases it by itself (then they leave it to the bot)."""
        roll = self.rng.random()  # drawn either way: the variants' later draws stay aligned
        if released_by_the_bot or roll >= WITHDRAW_ON_ESCALATION \
                or not self.once(story_id, "withdraw"):
            return

        def withdraw(at: datetime) -> None:
            story = self.story(story_id)
            if story is None or story.state not in {"accepted", "drafting",
                                                    "changes_requested"}:
                return
            if self.command(coordinator, "story", f"withdraw {story_id} The draft has not "
                            "come; pitch it again when there is time", at):
                self.result.withdrawn += 1

        self.later(coordinator, now, 4, 24, withdraw)

    def on_publishing_today(self, story_ids: list[int], now: datetime) -> None:
        for story_id in story_ids:
            story = self.story(story_id)
            if story is None or story.scheduled_at is None or not self.once(story_id, "publish"):
                continue
            # Who posts it and when: the same draws in every variant, so that the people's
            # later choices stay comparable across variants.
            coordinator = self.rng.choice([p for p in self.people if p.coordinator
                                           and not self.is_away(p, story.scheduled_at)])
            moment = story.scheduled_at + timedelta(minutes=self.rng.uniform(5, 90))
            if self.graph is not None:
                self.post_on_instagram(story, moment)
                continue

            def publish(at: datetime, story_id: int = story_id,
                        coordinator: Person = coordinator) -> None:
                self.command(coordinator, "story",
                             f"published {story_id} https://www.instagram.com/p/q{story_id}/", at)

            self.sequence += 1
            heapq.heappush(self.intents, (moment, self.sequence, publish))

    # --- the Instagram account ----------------------------------------------------------------

    def post_on_instagram(self, story: Story, moment: datetime) -> None:
        """A coordinator posts the story on the account at `moment`, some minutes after its
        slot; most captions name its title, some do not."""
        unsure = self.posting.random() < UNSURE_CAPTION
        caption = (self.posting.choice(UNSURE_CAPTIONS) if unsure else
                   f"{story.title}: new on our feed #{self.posting.choice(OBJECTIVES)}")
        def post(at: datetime) -> None:
            self.add_media(at, caption)
            if at >= self.measure_from:
                self.result.posts += 1
                self.result.unsure_posts += int(unsure)

        self.sequence += 1
        heapq.heappush(self.intents, (moment, self.sequence, post))

    def plan_unscheduled_posts(self) -> None:
        """Now and then a post nobody scheduled, on the evening of a slot day, 3.5 to 5.5
        hours after the slot: too late to be taken for the slot's story. The watch sees it
        at its next look: every check while a slot is open, otherwise every six hours of
        the team's working time."""
        zone = ZoneInfo(TEAM_ZONE)
        for week in range(WARMUP_WEEKS + WEEKS):
            if self.posting.random() >= UNSCHEDULED_A_WEEK:
                continue
            monday = (START + timedelta(weeks=week)).astimezone(zone).date()
            slot = self.posting.choice(self.policy.cadence)
            day = monday + timedelta(days=slot.weekday)
            moment = datetime.combine(day, slot.at, zone) + timedelta(
                hours=self.posting.uniform(3.5, 5.5))
            caption = self.posting.choice(UNSCHEDULED_CAPTIONS)

            def post(at: datetime, caption: str = caption) -> None:
                self.add_media(at, caption)
                if at >= self.measure_from:
                    self.result.unscheduled_posts += 1

            self.sequence += 1
            heapq.heappush(self.intents, (moment.astimezone(UTC), self.sequence, post))

    def add_media(self, at: datetime, caption: str) -> None:
        assert self.graph is not None
        media = self.graph.account.media
        media_id = str(18000000000000000 + len(media) + 1)
        media.insert(0, {  # the listing is newest first
            "id": media_id, "caption": caption, "media_type": "VIDEO",
            "media_product_type": "REELS",
            "timestamp": f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S+0000}",
            "permalink": f"https://www.instagram.com/reel/Q{media_id[-6:]}/"})

    def on_post_question(self, story_id: int, now: datetime) -> None:
        """"A new post on Instagram may be story #N": a coordinator looks and presses Yes."""
        if not self.once(story_id, "confirm"):
            return
        self.confirming.add(story_id)
        self.press_later("confirm_post", story_id, now)

    def on_unrecorded(self, story_id: int, now: datetime) -> None:
        """A slot passed unrecorded: unless a confirmation is on its way, press Posted."""
        if story_id in self.confirming or not self.once(story_id, "posted"):
            return
        self.press_later("posted", story_id, now)

    def press_later(self, action: str, story_id: int, now: datetime) -> None:
        """A coordinator who is not away presses `action` on a story still scheduled."""
        coordinator = self.posting.choice([p for p in self.people if p.coordinator
                                           and not self.is_away(p, now)])

        def press(at: datetime) -> None:
            story = self.story(story_id)
            if story is not None and story.state == "scheduled":
                self.press(coordinator, action, story_id, story.version, at)

        self.later(coordinator, now, 0.5, 8, press, self.posting)

    def on_pitch_call(self, now: datetime) -> None:
        low, high = CALL_RESPONDERS
        for person in self.rng.sample(self.contributors(), self.rng.randint(low, high)):
            self.later(person, now, 1, 96, lambda at, person=person: self.pitch(person, at))

    def contributors(self) -> list[Person]:
        return [p for p in self.people if not p.coordinator]

    def is_away(self, person: Person, moment: datetime) -> bool:
        day = moment.astimezone(person.zone).date()
        return any(first <= day <= last for first, last in person.away)

    # --- reading what was delivered ----------------------------------------------------------

    def read(self, now: datetime, delivery: Delivery) -> None:
        parts = [delivery.reply.text] + [b.text for b in delivery.reply.blocks
                                         if isinstance(b, Paragraph)]
        if delivery.recipient is None:
            text = " ".join(parts)
            if delivery.channel == "team" and text.startswith("Publishing today"):
                self.on_publishing_today([int(n) for n in re.findall(r"#(\d+)", parts[0])], now)
            elif delivery.channel == "team" and text.startswith("A new post on Instagram"):
                for action in delivery.reply.actions:
                    if action.name == "confirm_post" and action.story_id is not None:
                        self.on_post_question(action.story_id, now)
            elif delivery.channel == "team" and "is not recorded as published" in text:
                match = re.search(r"Story #(\d+)", text)
                if match:
                    self.on_unrecorded(int(match.group(1)), now)
            elif delivery.channel == "group" and text.startswith("Call for pitches"):
                self.on_pitch_call(now)
            return
        person = self.by_user[delivery.recipient.user_id]
        if now >= self.measure_from:
            self.check_delivery(now, person, parts)
        for part in parts:
            self.react(now, person, part)

    def react(self, now: datetime, person: Person, text: str) -> None:
        patterns: list[tuple[str, Callable[[int], None]]] = [
            (r"You are (?:now )?reviewing story #(\d+)",
             lambda n: self.on_assignment(person, n, now)),
            (r"draft of story #(\d+) .* is ready for your review",
             lambda n: self.on_draft_ready(person, n, self.version(n), now)),
            (r"The draft of story #(\d+) .* has waited",
             lambda n: self.on_draft_ready(person, n, self.version(n), now)),
            (r"The draft of story #(\d+) .* by .* is \d+ days? overdue",
             lambda n: self.on_escalation(person, n, now,
                                          "Storydesk releases the story" in text)),
            (r"Friendly reminder: your \w+ of story #(\d+)",
             lambda n: self.on_author_prompt(person, n, "before", now)),
            (r"Your \w+ of story #(\d+) .* is due today",
             lambda n: self.on_author_prompt(person, n, "today", now)),
            (r"Your \w+ of story #(\d+) .* was due",
             lambda n: self.on_author_prompt(person, n, "overdue", now)),
            (r"asks for changes to story #(\d+)",
             lambda n: self.on_author_prompt(person, n, "changes", now)),
        ]
        for pattern, act in patterns:
            match = re.search(pattern, text)
            if match:
                act(int(match.group(1)))
                return

    def version(self, story_id: int) -> int:
        story = self.story(story_id)
        return story.version if story else 0

    def check_delivery(self, now: datetime, person: Person, parts: list[str]) -> None:
        """Was it a working moment for them, and is every day count true today?"""
        if not is_allowed(now, person.zone, self.policy.reminders) or self.is_away(person, now):
            self.result.outside_hours += 1
        today = now.astimezone(person.zone).date()
        for part in parts:
            for expected, shown in self.day_counts(part, today):
                self.result.day_counts_checked += 1
                self.result.wrong_day_counts += int(expected != shown)

    def day_counts(self, text: str, today: date) -> list[tuple[int, int]]:
        """(the true count, the count the text states) for each dated phrase in it."""
        found = []
        for when, count in re.findall(r"due (\w+ \d\d \w+), in (\d+) days?", text):
            found.append(((self.date_near(when, today) - today).days, int(count)))
        for when in re.findall(r"due tomorrow, (\w+ \d\d \w+)", text):
            found.append(((self.date_near(when, today) - today).days, 1))
        for when, count in re.findall(r"was due (\w+ \d\d \w+), (\d+) days? ago", text):
            found.append(((today - self.date_near(when, today)).days, int(count)))
        for count, when in re.findall(r"is (\d+) days? overdue \(it was due (\w+ \d\d \w+)\)",
                                      text):
            found.append(((today - self.date_near(when, today)).days, int(count)))
        match = re.search(r"story #(\d+) .* is due today", text)
        if match:
            story = self.story(int(match.group(1)))
            due = story.draft_due if story else None
            found.append(((due - today).days if due else -1, 0))
        return found

    @staticmethod
    def date_near(text: str, today: date) -> date:
        for year in (today.year - 1, today.year, today.year + 1):
            candidate = datetime.strptime(f"{text} {year}", "%A %d %B %Y").date()
            if abs((candidate - today).days) < 183:
                return candidate
        raise ValueError(text)

    # --- the clock ----------------------------------------------------------------------------

    def run(self) -> Result:
        started = time.perf_counter()
        # The bot's first day: a few members pitch what they had in mind.
        for person in self.rng.sample(self.contributors(), 6):
            self.later(person, START, 8, 72, lambda at, person=person: self.pitch(person, at))
        now = START
        while now < self.end:
            now += timedelta(hours=1)
            if now == self.measure_from:
                self.result.in_flight_start = self.in_flight()
            while self.intents and self.intents[0][0] <= now:
                at, _, intent = heapq.heappop(self.intents)
                intent(at)
            self.transport.at = now
            before = len(self.transport.sent)
            # As in `storydesk run`: the dispatcher wakes for what was held to this moment
            # before the tick has queued what falls due at it; then the tick, and what
            # the tick and the publication job queued goes out.
            self.dispatcher.dispatch_due(now)
            with write_session(self.engine) as session:
                reminders.run_tick(session, now, self.policy)
            self.watched(self.watch(now), now)
            self.dispatcher.dispatch_due(now)
            for at, delivery in sorted(self.transport.sent[before:],
                                       key=lambda sent: sent[1].outbound_id):
                self.read(at, delivery)
        self.result.wall_seconds = time.perf_counter() - started
        self.result.in_flight_end = self.in_flight()
        self.tally()
        return self.result

    def in_flight(self) -> int:
        """Stories between their pitch and their publication (or end) right now."""
        with read_session(self.engine) as session:
            return len(session.exec(select(Story.id).where(
                col(Story.state).in_(IN_FLIGHT))).all())

    def watched(self, tick: WatchTick, now: datetime) -> None:
        if now < self.measure_from:
            return
        result = self.result
        result.raised_unrecorded += len(tick.raised)
        result.watch_checks += int(tick.checked)
        result.watch_errors += int(bool(tick.error))
        if tick.report is not None:
            result.watch_recorded += len(tick.report.recorded)
            result.watch_asked += len(tick.report.asked)
            result.watch_announced += len(tick.report.announced)

    def tally(self) -> None:
        result = self.result
        per_day: Counter[tuple[int, date]] = Counter()
        per_member: dict[int, int] = defaultdict(int)
        for at, delivery in self.transport.sent:
            if delivery.recipient is None or at < self.measure_from:
                continue
            person = self.by_user[delivery.recipient.user_id]
            per_member[delivery.recipient.member_id] += 1
            per_day[(delivery.recipient.member_id, at.astimezone(person.zone).date())] += 1
        result.dms = sum(per_member.values())
        result.dms_per_member = dict(per_member)
        result.max_per_member_day = max(per_day.values(), default=0)
        slots = cadence_slots(self.measure_from, self.end, self.policy.cadence,
                              self.policy.zone)
        with read_session(self.engine) as session:
            published = session.exec(select(Story).where(Story.state == "published")).all()
            warned = set(session.exec(select(Outbound.unique_key).where(
                Outbound.status == "sent", Outbound.unique_key.like("empty-slot:%")  # type: ignore[attr-defined]
            )).all())
        measured = [s for s in published
                    if s.published_at and s.published_at >= self.measure_from]
        result.published = len(measured)
        with read_session(self.engine) as session:
            result.released = len(session.exec(select(StoryEvent.id).where(
                StoryEvent.action == "withdraw", col(StoryEvent.actor_id).is_(None),
                col(StoryEvent.at) >= self.measure_from)).all())
        result.pitch_to_post_days = [(s.published_at - s.created_at).total_seconds() / 86400
                                     for s in measured if s.published_at and s.created_at]
        filled = {s.scheduled_at for s in published}
        result.slots = len(slots)
        for slot in slots:
            if slot in filled:
                continue
            result.missed += 1
            if f"empty-slot:{slot:%Y-%m-%dT%H:%MZ}@console" not in warned:
                result.missed_unwarned += 1


# --- the report ---------------------------------------------------------------------------


def per_story(r: Result) -> float:
    return r.coordinator_commands / r.published if r.published else float("nan")


@dataclass(frozen=True)
class Rates:
    """The people's own choices that cost coordinator commands, whatever the bot does."""

    decline: float  # pitches declined
    never: float  # accepted pitches whose author never finishes
    changes: float  # reviews that ask for changes (drawn again on every revision)
    unsure: float  # posts whose caption does not name the title


SIMULATED = Rates(DECLINE, dict(PROFILES)["never"], CHANGES, UNSURE_CAPTION)
# Gentler groups than the simulated one: what acceptance by hand would cost them.
GENTLER = (Rates(0.10, 0.10, 0.20, 0.10), Rates(0.05, 0.05, 0.15, 0.10))


def floor(instagram: bool, lazy: bool, rates: Rates = SIMULATED) -> dict[str, float]:
    """What the simulation's own draws cost per published story, whatever the bot does.

    Each published story was one of 1 / ((1 - decline) * (1 - never)) pitches: the others
    were declined or never finished. Each accepted pitch costs an `accept` (unless lazy
    acceptance takes it), each pitch declined a `decline`, each review a `changes` with the
    chance `changes`, drawn again on every revision, until the `approve`. Recording costs a
    `published` per story without Instagram, and with it a press of "Yes, it is #N" for each
    post whose caption does not name the title. Expected values, derived from the
    constants above, not measured: the gap between them and the measured figure is what
    the bot (and the quarter's pipeline) adds.
    """
    pitches = 1 / ((1 - rates.decline) * (1 - rates.never))
    costs = {
        "accept": 0.0 if lazy else pitches * (1 - rates.decline),
        "decline": pitches * rates.decline,
        "approve": 1.0,
        "changes": rates.changes / (1 - rates.changes),
    }
    costs["confirm_post" if instagram else "published"] = rates.unsure if instagram else 1.0
    return costs


def gentler_line() -> str:
    """What acceptance by hand would cost groups gentler than the simulated one."""
    def one(rates: Rates) -> str:
        costs = [sum(floor(instagram, False, rates).values()) for instagram in (False, True)]
        return (f"{rates.decline:.0%} declined, {rates.never:.0%} never finished, "
                f"{rates.changes:.0%} of reviews asking for changes and {rates.unsure:.0%} "
                f"of captions not naming the title: {costs[0]:.2f} without Instagram and "
                f"{costs[1]:.2f} with it")
    return "; ".join(one(rates) for rates in (SIMULATED, *GENTLER))


def least(r: Result) -> float:
    return sum(floor(r.instagram, r.lazy).values())


def by_variant(results: list[Result]) -> dict[str, list[Result]]:
    grouped: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        grouped[r.name].append(r)
    return grouped


def pooled(runs: list[Result]) -> Result:
    """The seeds of one variant added up (counts only)."""
    total = Result(runs[0].name, instagram=runs[0].instagram, lazy=runs[0].lazy)
    for r in runs:
        total.published += r.published
        total.commands.update(r.commands)
        total.pitched += r.pitched
        total.withdrawn += r.withdrawn
        total.released += r.released
        for name in ("posts", "unscheduled_posts", "unsure_posts", "watch_checks",
                     "watch_recorded", "watch_asked", "watch_announced", "watch_errors",
                     "raised_unrecorded", "slots", "missed", "missed_unwarned",
                     "outside_hours", "wrong_day_counts", "day_counts_checked"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
    return total


def table(results: list[Result]) -> str:
    member_weeks = MEMBERS * WEEKS
    rows = [
        "| variant | seeds | published a quarter | coordinator commands per published story: "
        "median (each seed) | floor set by the simulation's draws | slots missed (without "
        "warning) | DMs per member-week, mean / max | most DMs to one person in a day | "
        "DMs in quiet hours, days off or away | "
        "wrong day counts (checked) | stories in flight, start → end | wall time (warm-up "
        "and quarter) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, runs in by_variant(results).items():
        total = pooled(runs)
        ratios = [per_story(r) for r in runs]
        means = [r.dms / member_weeks for r in runs]
        busiest = [max(r.dms_per_member.values(), default=0) / WEEKS for r in runs]
        flight = (f"{median(r.in_flight_start for r in runs):.0f} → "
                  f"{median(r.in_flight_end for r in runs):.0f}")
        rows.append(
            f"| {name} | {len(runs)} | {median(r.published for r in runs):.0f} | "
            f"**{median(ratios):.2f}** ({', '.join(f'{x:.2f}' for x in ratios)}) | "
            f"{least(total):.2f} | "
            f"{total.missed} of {total.slots} ({total.missed_unwarned}) | "
            f"{median(means):.2f} / {max(busiest):.2f} | "
            f"{max(r.max_per_member_day for r in runs)} | {total.outside_hours} | "
            f"{total.wrong_day_counts} ({total.day_counts_checked}) | {flight} | "
            f"{median(r.wall_seconds for r in runs):.0f} s |")
    return "\n".join(rows)


def kinds(total: Result) -> str:
    stories = max(total.published, 1)
    return ", ".join(f"`{name}` {count / stories:.2f}"
                     for name, count in total.commands.most_common())


def split(total: Result) -> str:
    """Bookkeeping and decision commands per published story, all seeds together."""
    kept = sum(total.commands[k] for k in BOOKKEEPING)
    stories = max(total.published, 1)
    return (f"{total.name}: {kept / stories:.2f} bookkeeping and "
            f"{(total.coordinator_commands - kept) / stories:.2f} decisions")


def verdict(runs: list[Result], target: float) -> str:
    value = median(per_story(r) for r in runs)
    if value <= target:
        return f"{runs[0].name}: {value:.2f}, met"
    reach = (f" (out of reach: the draws alone cost {least(runs[0]):.2f})"
             if least(runs[0]) > target else "")
    return f"{runs[0].name}: {value:.2f}, NOT met{reach}"


def floor_line(total: Result) -> str:
    costs = floor(total.instagram, total.lazy)
    parts = ", ".join(f"`{name}` {cost:.2f}" for name, cost in costs.items() if cost)
    return f"{total.name}: {sum(costs.values()):.2f} ({parts})"


def instagram_line(total: Result) -> str:
    return (
        f"In `{total.name}`, all seeds together: {total.posts} stories were posted on the "
        f"account in the measured weeks, {total.unsure_posts} of them with a caption not "
        f"naming the title, plus {total.unscheduled_posts} posts nobody scheduled. The "
        f"publication job checked the account {total.watch_checks} times (at most once a "
        f"simulated hour, the clock's step, while a slot was open, and every six hours "
        f"of the team's working time otherwise; {total.watch_errors} failed checks), "
        f"recorded {total.watch_recorded} posts by itself, asked the team about "
        f"{total.watch_asked} (presses of \"Yes, it is #N\" counted: "
        f"{total.commands['confirm_post']}) and announced "
        f"{total.watch_announced} posts nobody scheduled, which need nothing from anyone "
        f"(an announcement counts in the weeks it is made, the post in the weeks it went "
        f"out). Slots raised as unrecorded the next morning: {total.raised_unrecorded}; "
        f"\"Posted\" presses: {total.commands['posted']}; `published` commands typed: "
        f"{total.commands['published']}.")


def report(results: list[Result], seeds: list[int]) -> str:
    grouped = by_variant(results)
    totals = [pooled(runs) for runs in grouped.values()]
    without = "; ".join(verdict(runs, 3.5) for runs in grouped.values()
                        if not runs[0].instagram)
    connected = "; ".join(verdict(runs, 2.5) for runs in grouped.values()
                          if runs[0].instagram)
    zero = all(t.missed_unwarned == 0 and t.outside_hours == 0 and t.wrong_day_counts == 0
               for t in totals)
    breakdown = "; ".join(f"{t.name}: {kinds(t)}" for t in totals)
    stories = "; ".join(f"{t.name}: {t.pitched} pitched, {t.withdrawn} withdrawn by a "
                        f"coordinator, {t.released} released by Storydesk" for t in totals)
    bookkeeping = "; ".join(split(t) for t in totals)
    lead = [days for r in results for days in r.pitch_to_post_days]
    weeks = (f"{median(lead) / 7:.1f} weeks (middle half {quantiles(lead)[0] / 7:.1f} to "
             f"{quantiles(lead)[2] / 7:.1f})" if len(lead) > 1 else "unknown")
    account = " ".join(instagram_line(t) for t in totals if t.instagram)
    floors = "; ".join(floor_line(t) for t in totals)
    gaps = "; ".join(f"{name}: {median(per_story(r) for r in runs) - least(runs[0]):+.2f}"
                     for name, runs in grouped.items())
    return f"""
`bench/quarter.py`: a quarter ({WEEKS} weeks, measured after {WARMUP_WEEKS} weeks of
warm-up) of a {MEMBERS}-member group with {COORDINATORS} coordinators and two slots a week
(Tue and Thu 18:00, Berlin), on a simulated clock ticking every hour: the reminder tick
and the publication job (the runtime's tick jobs for stories), then the outbox dispatcher
with the team's rules and a recording transport. Every action is a command (or a button)
through the command runner, taken only when a direct message, a team post or a call for
pitches prompts it, inside the person's working hours; authors are punctual (55 %), late
(30 %) or never finish (15 %); coordinators decline 15 % of pitches, ask for changes on
25 % of drafts and each take a week away; a draft escalated to them is left to Storydesk,
which releases the story {Policy().release_after_days}
days after its due date (when the message does not say so, they withdraw half of them).
Without Instagram a coordinator records each post after its slot (`/story published N
<link>`); with Instagram connected the settings point GRAPH_API_URL at a local Graph API
fake on which each scheduled story is posted 5 to 90 minutes after its slot
({UNSURE_CAPTION:.0%} of captions do not name the title; in about
{UNSCHEDULED_A_WEEK:.0%} of weeks a post nobody scheduled, on a slot day's evening), and
the publication job records them. Seeds {', '.join(map(str, seeds))}: each a quarter of
its own; the table gives medians over the seeds, the counts that must be 0 summed.

From pitch to publication a story takes {weeks}; the {WARMUP_WEEKS}-week warm-up fills
the pipeline before measuring starts, so that the quarter is not charged for filling it
(the accepts and approvals of stories that go out after it). The table shows how many
stories were in flight when measuring started and when it ended: a pipeline that drains
during the quarter flatters its figure, one that fills charges it.

{table(results)}

Coordinator commands per published story, target ≤ 3.5 without Instagram: {without}.
Target ≤ 2.5 with Instagram connected: {connected}. Both are met in the setup the README
recommends for a group like this one (lazy acceptance, `STORYDESK_AUTO_ACCEPT_HOURS=16`);
with every pitch accepted by hand (the default) they are out of reach, as below. Slots
missed without a warning, DMs outside working time and wrong day counts:
{"all 0" if zero else "NOT all 0"}.

What they are, per published story, all seeds together: {breakdown}. Split: {bookkeeping}
(bookkeeping: {', '.join(BOOKKEEPING)}; no `schedule` command was needed, since approval
schedules). Every pitch needs an `accept` or a `decline` and every draft an `approve` or
`changes`; a story whose author never finishes costs its `accept` all the same, and lazy
acceptance removes the `accept`s. Stories: {stories}. `away` commands are not counted;
button presses are.

The floor column is what the simulation's own draws cost per published story, whatever
Storydesk does: expected values derived from its rates (not measured), with every
bookkeeping step the bot could take away already taken away but for recording without
Instagram and the unsure captions with it. Per setup: {floors}. With coordinators accepting each
pitch, the draws alone exceed both targets, so no change to the bot can meet them in
those setups. The measured figures less their floors: {gaps} (approvals in the
quarter of stories published after it, and the quarter's accepts of pitches that will
never finish, minus the same from before it). The same floor with acceptance by hand,
for the simulated group and for gentler ones (derived, not simulated): {gentler_line()}.
Only a group where fewer than one pitch in ten is declined or abandoned and fewer than
one draft in five needs changes could meet the target with Instagram by accepting each
pitch by hand; that is why the README recommends lazy acceptance for a team like the
one Storydesk is built for.

{account}

Python {platform.python_version()}, {platform.machine()}, {datetime.now(UTC):%Y-%m-%d}.
"""


def variants() -> list[tuple[str, Policy, bool]]:
    policy = Policy(
        timezone=TEAM_ZONE,
        cadence=(CadenceSlot(1, datetime.min.time().replace(hour=18)),
                 CadenceSlot(3, datetime.min.time().replace(hour=18))),
        draft_days=14,
        channel_platforms=("console",),
        reminders=ReminderRules(),
    )
    return [
        ("by hand, coordinators record", policy, False),
        ("lazy acceptance, coordinators record", replace(policy, auto_accept_hours=16), False),
        ("by hand, Instagram connected", policy, True),
        ("lazy acceptance, Instagram connected", replace(policy, auto_accept_hours=16), True),
    ]


def run_quarter(job: tuple[int, int]) -> Result:
    """One variant with one seed, in a directory of its own (runs in a worker process)."""
    index, seed = job
    name, policy, instagram = variants()[index]
    with tempfile.TemporaryDirectory() as workdir, \
            GraphServer(Account(), page_size=50) as graph:
        quarter = Quarter(name, seed, policy, Path(workdir), graph if instagram else None)
        try:
            return quarter.run()
        finally:
            quarter.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="10,11,12",
                        help="comma-separated seeds, a quarter each (default 10,11,12)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="quarters run at once, in worker processes (default 2)")
    parser.add_argument("--no-write", action="store_true", help="print, do not rewrite README")
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    jobs = [(index, seed) for index in range(len(variants())) for seed in seeds]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(run_quarter, jobs))
    print(table(results), flush=True)
    text = report(results, seeds)
    if args.no_write:
        print(text)
    else:
        write_section(SECTION, text)
        print(f"written to bench/README.md, section {SECTION!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
