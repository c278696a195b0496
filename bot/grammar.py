"""The command grammar: the text of `/pitch` and `/story ...` turned into handler calls.

The same grammar serves Slack, Mattermost and the console. Each `/story` subcommand is one
entry in SUBCOMMANDS: its usage line, a one-line summary, and a function that parses the
arguments and calls the handler. A malformed input raises UsageError, which the runner
answers with the subcommand's usage.

Over 500 lines, on purpose: SUBCOMMANDS is the one table of every `/story` subcommand,
so that help, usage and parsing come from a single list; the capabilities with several
subcommands of their own keep them in their packages (bot/reach/commands.py,
bot/crowd/commands.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlmodel import Session

from bot.crowd import commands as crowd
from bot.invocation import Invocation
from bot.reach.commands import REACH_DETAILS, REACH_SUMMARY, REACH_USAGE, run_reach
from handlers import calendar, members, personal_calendar, reminders, stories
from handlers.context import Policy
from handlers.decisions import FORMATS, OBJECTIVES, local_datetime
from handlers.errors import Refused
from handlers.reply import Bullets, Heading, Paragraph, Reply, plural
from storage.models import Member

MAX_COMMAND_LENGTH = 4000
# In help texts, the team's STORYDESK_MIN_LEAD_HOURS ("24 hours") and STORYDESK_DRAFT_DAYS
# ("14 days"), filled in when shown.
LEAD = "{lead}"
DRAFT_DAYS = "{draft_days}"
OBJECTIVE_ALIASES = {"sci-comm": "scicomm", "science": "scicomm", "lablife": "recruitment"}


class UsageError(Exception):
    """The input does not fit the grammar; `message` says what was wrong."""

    def __init__(self, message: str, subcommand: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.subcommand = subcommand


@dataclass(frozen=True)
class Subcommand:
    name: str
    usage: str
    summary: str
    run: Callable[[Invocation], Reply]
    details: tuple[str, ...] = field(default=())
    aliases: tuple[str, ...] = ()
    read_only: bool = False  # answered from a read transaction: no write lock taken
    # First words that make a read-only subcommand write (`calendar link`, `calendar reset`).
    writing_words: tuple[str, ...] = ()

    def reads_only(self, args: str) -> bool:
        """Whether `/story <name> <args>` can be answered from a read transaction."""
        first = args.split(maxsplit=1)[0].lower() if args.strip() else ""
        return self.read_only and first not in self.writing_words


# --- cleaning and small parsers ----------------------------------------------------------


def clean_text(text: str) -> str:
    """Drop control characters (keeping line breaks as spaces) and surrounding space."""
    kept = []
    for char in text:
        if char in "\n\r\t":
            kept.append(" ")
        elif unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co"} and char != "\u200d":
            continue
        else:
            kept.append(char)
    return "".join(kept).strip()


def parse_story_number(word: str | None, subcommand: str) -> int:
    if word is None:
        raise UsageError("Which story? Give its number.", subcommand)
    match = re.fullmatch(r"#?(\d{1,9})", word)
    if not match:
        raise UsageError(f"{word!r} is not a story number (like 12 or #12).", subcommand)
    return int(match.group(1))


def parse_date(word: str, subcommand: str) -> date:
    try:
        return date.fromisoformat(word)
    except ValueError:
        raise UsageError(f"{word!r} is not a date; write it as YYYY-MM-DD.", subcommand) from None


def parse_clock(word: str, subcommand: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", word)
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise UsageError(f"{word!r} is not a time of day; write it as HH:MM.", subcommand)
    return time(int(match.group(1)), int(match.group(2)))


def parse_local_time(day_word: str, clock_word: str, policy: Policy, subcommand: str) -> datetime:
    """A team-local date and time as an aware UTC datetime; refuses times the clock skips."""
    day = parse_date(day_word, subcommand)
    at = parse_clock(clock_word, subcommand)
    local = local_datetime(day, at, policy.zone)
    if local is None:
        raise Refused(
            f"{day} {at:%H:%M} does not exist in {policy.timezone}: the clocks skip it "
            "(daylight saving). Pick another time."
        )
    return local.astimezone(UTC)


def split_first(text: str) -> tuple[str, str]:
    parts = text.split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


# --- /pitch ------------------------------------------------------------------------------

PITCH_USAGE = "/pitch <title> [#objective] [#format] [-- summary]"


def parse_pitch(text: str) -> stories.PitchForm:
    """`Title words #recruitment #reel -- a summary` -> PitchForm.

    Hashtags naming an objective or a format fill that field; any other word, hashtags
    included, stays in the title.
    """
    head, _, summary = text.partition(" -- ")
    if head.endswith(" --") or head == "--":
        head = head[:-2]
    if head.startswith("-- "):
        head, summary = "", head[3:]
    objective = format_ = None
    title_words = []
    for word in head.split():
        tag = word[1:].lower().rstrip(".,;") if word.startswith("#") else None
        tag = OBJECTIVE_ALIASES.get(tag, tag) if tag else None
        if tag in OBJECTIVES and objective is None:
            objective = tag
        elif tag in FORMATS and format_ is None:
            format_ = tag
        else:
            title_words.append(word)
    return stories.PitchForm(
        title=" ".join(title_words),
        summary=summary.strip(),
        objective=objective,
        format=format_,
    )


# --- /story subcommands ------------------------------------------------------------------


def _list(inv: Invocation) -> Reply:
    which = inv.words[0].lower() if inv.words else "open"
    if which not in {"mine", "open", "all"} or len(inv.words) > 1:
        raise UsageError("Choose mine, open or all.", "list")
    return stories.list_stories(inv.session, inv.actor, inv.now, inv.policy, which)


StoryHandler = Callable[[Session, Member, datetime, Policy, int], Reply]


def one_story(name: str, handler: StoryHandler) -> Callable[[Invocation], Reply]:
    """A subcommand whose only argument is a story number."""

    def run(inv: Invocation) -> Reply:
        if len(inv.words) != 1:
            raise UsageError("Give one story number.", name)
        story_id = parse_story_number(inv.words[0], name)
        return handler(inv.session, inv.actor, inv.now, inv.policy, story_id)

    return run


def _calendar(inv: Invocation) -> Reply:
    if inv.words and inv.words[0].lower() in {"link", "reset"}:
        if len(inv.words) > 1:
            raise UsageError(f"`calendar {inv.words[0].lower()}` takes nothing more.", "calendar")
        if inv.words[0].lower() == "link":
            return personal_calendar.calendar_link(inv.session, inv.actor, inv.now, inv.policy)
        return personal_calendar.reset_link(inv.session, inv.actor, inv.now, inv.policy)
    if len(inv.words) > 1:
        raise UsageError("Give at most a number of weeks.", "calendar")
    weeks = 4
    if inv.words:
        if not inv.words[0].isdigit():
            raise UsageError(f"{inv.words[0]!r} is not a number of weeks.", "calendar")
        weeks = int(inv.words[0][:4])
    return calendar.calendar(inv.session, inv.actor, inv.now, inv.policy, weeks)


def _accept(inv: Invocation) -> Reply:
    words = inv.words
    story_id = parse_story_number(words[0] if words else None, "accept")
    due = None
    rest = words[1:]
    if rest:
        if rest[0].lower() == "due" and len(rest) == 2:
            due = parse_date(rest[1], "accept")
        elif len(rest) == 1 and re.fullmatch(r"\d{4}-\d{2}-\d{2}", rest[0]):
            due = parse_date(rest[0], "accept")
        else:
            raise UsageError("After the number, only `due YYYY-MM-DD` may follow.", "accept")
    return stories.accept(inv.session, inv.actor, inv.now, inv.policy, story_id, due)


def _decline(inv: Invocation) -> Reply:
    first, reason = split_first(inv.args)
    story_id = parse_story_number(first or None, "decline")
    if not reason.strip():
        raise UsageError("Say why the pitch is declined; the author will read it.", "decline")
    return stories.decline(inv.session, inv.actor, inv.now, inv.policy, story_id, reason)


def _draft(inv: Invocation) -> Reply:
    words = inv.words
    if len(words) != 2:
        raise UsageError("Give the story number and the draft's link.", "draft")
    story_id = parse_story_number(words[0], "draft")
    link = words[1].strip("<>").split("|")[0]
    return stories.submit_draft(inv.session, inv.actor, inv.now, inv.policy, story_id, link)


def _changes(inv: Invocation) -> Reply:
    first, note = split_first(inv.args)
    story_id = parse_story_number(first or None, "changes")
    return stories.request_changes(inv.session, inv.actor, inv.now, inv.policy, story_id, note)


def _schedule(inv: Invocation) -> Reply:
    words = inv.words
    story_id = parse_story_number(words[0] if words else None, "schedule")
    rest = words[1:]
    if rest == ["next"] or not rest:
        when = None
    elif len(rest) == 2:
        when = parse_local_time(rest[0], rest[1], inv.policy, "schedule")
    else:
        raise UsageError("After the number: `next`, or a date and a time.", "schedule")
    return stories.schedule(inv.session, inv.actor, inv.now, inv.policy, story_id, when)


def _approve(inv: Invocation) -> Reply:
    words = inv.words
    story_id = parse_story_number(words[0] if words else None, "approve")
    rest = [w.lower() for w in words[1:]]
    if rest not in ([], ["unscheduled"]):
        raise UsageError("After the number, only `unscheduled` may follow.", "approve")
    return stories.approve(inv.session, inv.actor, inv.now, inv.policy, story_id,
                           unscheduled=bool(rest))


def _withdraw(inv: Invocation) -> Reply:
    first, reason = split_first(inv.args)
    story_id = parse_story_number(first or None, "withdraw")
    return stories.withdraw(inv.session, inv.actor, inv.now, inv.policy, story_id, reason)


def _published(inv: Invocation) -> Reply:
    words = inv.words
    if len(words) not in (2, 3):
        raise UsageError("Give the story number and the post's permalink.", "published")
    story_id = parse_story_number(words[0], "published")
    link = words[1].strip("<>").split("|")[0]
    media_id = words[2] if len(words) == 3 else None
    return stories.publish(inv.session, inv.actor, inv.now, inv.policy, story_id, link, media_id)


def _reassign(inv: Invocation) -> Reply:
    words = inv.words
    story_id = parse_story_number(words[0] if words else None, "reassign")
    if len(words) > 2:
        raise UsageError("Give the story number and at most one person.", "reassign")
    to = inv.resolve(words[1]) if len(words) == 2 else None
    return stories.reassign(inv.session, inv.actor, inv.now, inv.policy, story_id, to)


def _team(inv: Invocation) -> Reply:
    words = inv.words
    if not words:
        return members.team(inv.session, inv.today)
    if len(words) == 1 and words[0].lower() == "claim":
        return members.claim_team(inv.session, inv.actor)
    if len(words) != 2 or words[0].lower() not in {"add", "remove"}:
        raise UsageError("Use `team`, `team add @person`, `team remove @person` or "
                         "`team claim` (the first coordinator of an empty team).", "team")
    person = inv.resolve(words[1])
    if words[0].lower() == "add":
        return members.add_coordinator(inv.session, inv.actor, person)
    return members.remove_coordinator(inv.session, inv.actor, person)


def _away(inv: Invocation) -> Reply:
    words = inv.words
    if len(words) != 2:
        raise UsageError("Give the first and the last day away.", "away")
    first, last = parse_date(words[0], "away"), parse_date(words[1], "away")
    return members.add_away(inv.session, inv.actor, first, last, inv.today)


def _event(inv: Invocation) -> Reply:
    action, rest = split_first(inv.args)
    action = action.lower()
    if action == "remove":
        if len(rest.split()) != 1:
            raise UsageError("Give the event's number.", "event")
        return calendar.remove_event(inv.session, inv.actor, parse_story_number(rest, "event"))
    if action in {"add", "slot"}:
        words = rest.split(maxsplit=2)
        if len(words) < 2:
            raise UsageError("Give a date, a time and a title.", "event")
        when = parse_local_time(words[0], words[1], inv.policy, "event")
        title = words[2] if len(words) == 3 else ("Extra slot" if action == "slot" else "")
        return calendar.add_event(
            inv.session,
            inv.actor,
            inv.now,
            inv.policy,
            when,
            clean_text(title),
            is_slot=action == "slot",
        )
    raise UsageError("Use `event add`, `event slot` or `event remove`.", "event")


def _reminders(inv: Invocation) -> Reply:
    if len(inv.words) != 1 or inv.words[0].lower() not in {"on", "off"}:
        raise UsageError("Use `reminders on` or `reminders off`.", "reminders")
    return members.set_reminders(inv.session, inv.actor, inv.words[0].lower() == "on")


def _snooze(inv: Invocation) -> Reply:
    words = inv.words
    if len(words) != 2 or not words[1].isdigit():
        raise UsageError("Give the story number and a number of days.", "snooze")
    story_id = parse_story_number(words[0], "snooze")
    return reminders.snooze(
        inv.session, inv.actor, inv.now, inv.policy, story_id, int(words[1][:3])
    )


def _help(inv: Invocation) -> Reply:
    return help_reply(inv.words[0] if inv.words else None, inv.policy)


SUBCOMMANDS: dict[str, Subcommand] = {}


def register(subcommand: Subcommand) -> None:
    SUBCOMMANDS[subcommand.name] = subcommand
    for alias in subcommand.aliases:
        SUBCOMMANDS[alias] = subcommand


for _entry in (
    Subcommand(
        "help",
        "/story help [subcommand]",
        "this list, or one subcommand in detail",
        _help,
        read_only=True,
    ),
    Subcommand(
        "list",
        "/story list [mine|open|all]",
        "stories, open ones by default",
        _list,
        read_only=True,
    ),
    Subcommand(
        "show",
        "/story show N",
        "a story's fields, reviewer, dates and history",
        one_story("show", stories.show),
        read_only=True,
    ),
    Subcommand(
        "calendar",
        "/story calendar [weeks] | /story calendar link|reset",
        "slots, scheduled stories, events and free slots (4 weeks by default); "
        "your personal calendar link",
        _calendar,
        read_only=True,
        details=(
            "`/story calendar link` sends you, by direct message, a private link to subscribe "
            "to in your calendar app: your drafts' due dates, reviews waiting on you and when "
            "your stories publish. `/story calendar reset` replaces it (the old link stops "
            "working).",
        ),
        writing_words=("link", "reset"),
    ),
    Subcommand(
        "accept",
        "/story accept N [due YYYY-MM-DD]",
        f"coordinators: accept a pitch; the draft is due in {DRAFT_DAYS} unless given",
        _accept,
    ),
    Subcommand(
        "decline",
        "/story decline N <reason>",
        "coordinators: decline a pitch, with a reason for the author",
        _decline,
    ),
    Subcommand(
        "start",
        "/story start N",
        "authors: mark an accepted story as in drafting",
        one_story("start", stories.start_drafting),
    ),
    Subcommand(
        "draft", "/story draft N <link>", "authors: submit the draft's link for review", _draft
    ),
    Subcommand(
        "changes",
        "/story changes N [note]",
        "coordinators: ask the author for changes to a draft",
        _changes,
    ),
    Subcommand(
        "approve",
        "/story approve N [unscheduled]",
        f"coordinators: approve a draft; it goes into the next free slot at least {LEAD} ahead",
        _approve,
        details=(
            "The reply and the card name the slot; `/story schedule N YYYY-MM-DD HH:MM` "
            "moves it. `unscheduled` keeps the story out of the calendar.",
            "The author gets one message saying both: approved, and when it goes out.",
        ),
    ),
    Subcommand(
        "schedule",
        "/story schedule N next | /story schedule N YYYY-MM-DD HH:MM",
        "coordinators: put an approved story into the next free slot or at a time",
        _schedule,
        details=("Times are in the team's time zone. `next` takes the first free slot at "
                 f"least {LEAD} ahead (STORYDESK_MIN_LEAD_HOURS).",),
    ),
    Subcommand(
        "published",
        "/story published N <permalink> [media-id]",
        "coordinators: record the published post",
        _published,
        aliases=("publish",),
    ),
    Subcommand(
        "withdraw",
        "/story withdraw N [reason]",
        "the author withdraws a story before publication; a coordinator may, with a reason",
        _withdraw,
        details=(
            "The author may withdraw their own story at any time before it is published.",
            "A coordinator may withdraw someone else's story only with a reason; the author "
            "receives it.",
        ),
    ),
    Subcommand(
        "reassign",
        "/story reassign N [@person]",
        "coordinators: give the review to someone else (the fairest pick if no one is named)",
        _reassign,
    ),
    Subcommand(
        "team",
        "/story team [add|remove @person | claim]",
        "the coordinators; coordinators can add and remove",
        _team,
        details=("While the team has no coordinators (a new install), the first member to "
                 "run `/story team claim` becomes one.",),
    ),
    Subcommand(
        "away",
        "/story away YYYY-MM-DD YYYY-MM-DD",
        "tell Storydesk you are away: no reviews are assigned to you then",
        _away,
    ),
    Subcommand(
        "event",
        "/story event add|slot YYYY-MM-DD HH:MM <title> | /story event remove N",
        "coordinators: a one-off event, or an extra publication slot",
        _event,
    ),
    Subcommand(
        "reminders", "/story reminders on|off", "turn your direct reminders on or off", _reminders
    ),
    Subcommand(
        "snooze",
        "/story snooze N <days>",
        "no reminders about story N for a few days; what falls due meanwhile comes once, after",
        _snooze,
        details=("`/story snooze N 0` ends a snooze.",),
    ),
    Subcommand("reach", REACH_USAGE, REACH_SUMMARY, run_reach, details=REACH_DETAILS),
    Subcommand("stats", crowd.STATS_USAGE, crowd.STATS_SUMMARY, crowd.run_stats,
               details=crowd.STATS_DETAILS, read_only=True),
    Subcommand("profile", crowd.PROFILE_USAGE, crowd.PROFILE_SUMMARY, crowd.run_profile,
               details=crowd.PROFILE_DETAILS),
    Subcommand("feature", crowd.FEATURE_USAGE, crowd.FEATURE_SUMMARY, crowd.run_feature,
               details=crowd.FEATURE_DETAILS),
    Subcommand("impact", crowd.IMPACT_USAGE, crowd.IMPACT_SUMMARY, crowd.run_impact,
               details=crowd.IMPACT_DETAILS),
):
    register(_entry)


def help_reply(topic: str | None, policy: Policy) -> Reply:
    """Every subcommand, or one in detail, with the team's own numbers filled in."""

    def told(text: str) -> str:
        return text.replace(LEAD, plural(policy.min_lead_hours, "hour")).replace(
            DRAFT_DAYS, plural(policy.draft_days, "day"))

    if topic:
        key = topic.lower().lstrip("/")
        if key == "pitch":
            return Reply(
                text=f"Usage: {PITCH_USAGE}",
                blocks=(
                    Paragraph(
                        f"Objectives: {', '.join('#' + o for o in OBJECTIVES)}. "
                        f"Formats: {', '.join('#' + f for f in FORMATS)}. "
                        "Everything after -- is the summary. `/pitch` alone opens a form."
                    ),
                ),
            )
        sub = SUBCOMMANDS.get(key)
        if sub is None:
            return unknown_subcommand(topic)
        return Reply(
            text=f"Usage: {sub.usage}",
            blocks=(
                Paragraph(told(sub.summary[0].upper() + sub.summary[1:] + ".")),
                *(Paragraph(told(line)) for line in sub.details),
            ),
        )
    seen: list[Subcommand] = []
    for sub in SUBCOMMANDS.values():
        if sub not in seen:
            seen.append(sub)
    lines = tuple(told(f"{sub.usage} — {sub.summary}") for sub in seen)
    return Reply(
        text="Storydesk commands: /pitch to propose a story, /story for everything else.",
        blocks=(
            Heading("Storydesk"),
            Paragraph(f"{PITCH_USAGE} — propose a story (alone: opens a form)"),
            Bullets(lines),
            Paragraph("`/story help <subcommand>` explains one in detail."),
        ),
    )


def unknown_subcommand(word: str) -> Reply:
    shown = word if len(word) <= 40 else word[:40] + "…"
    names = sorted({sub.name for sub in SUBCOMMANDS.values()})
    return Reply(
        text=f"I don't know `{shown}`. Try one of: {', '.join(names)}.",
        blocks=(Paragraph("`/story help` lists every subcommand with its usage."),),
        tone="error",
    )


def usage_reply(error: UsageError) -> Reply:
    if error.subcommand == "pitch":
        usage = PITCH_USAGE
    else:
        sub = SUBCOMMANDS.get(error.subcommand or "")
        usage = sub.usage if sub else "/story help"
    # The usage is in the text already: a block repeating it showed it twice.
    return Reply(text=f"{error.message} Usage: {usage}", tone="error")
