"""`/story stats`, `/story profile`, `/story feature` and `/story impact` in chat.

Each answer is a reply only the asker sees. The stats' chart is drawn by
`storydesk stats --png FILE` and attached to the monthly crowd-health post in the
coordinators' channel: a slash command's private reply cannot carry a file.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from handlers.crowd import impact, profile, stats
from handlers.crowd.decisions import CAREER_STAGES
from handlers.errors import Refused
from handlers.reply import Reply

if TYPE_CHECKING:
    from bot.invocation import Invocation

STATS_USAGE = "/story stats [months]"
STATS_SUMMARY = ("crowd health over a rolling window (12 months by default): coordinators "
                 "see everyone, contributors their own figures and the group's totals")
STATS_DETAILS = (
    "Pitches, published stories and their reach per member; the share of the group that "
    "contributed; members not heard from in months (coordinators only, names included); "
    "objectives and formats against their targets; the median days from pitch to post; "
    "kind nudges and how many pitched afterwards; the people featured against the group's "
    "make-up, in aggregate only.",
    "`/story stats 6` looks back six months. The answer is only ever shown to you.",
)
PROFILE_USAGE = (f"/story profile [career={'|'.join(CAREER_STAGES)}] [country=XX] "
                 "[gender=…] | /story profile clear")
PROFILE_SUMMARY = "your opt-in profile, for the group's diversity figures (only you see it)"
PROFILE_DETAILS = (
    "`/story profile` shows what is stored; `/story profile career=phd country=IT` sets "
    "fields; `gender=` with nothing after it removes one field; `/story profile clear` "
    "removes everything. Every field is optional.",
    "The coordinators see profiles only in aggregate, and any group smaller than 5 as "
    "\"fewer than 5\".",
)
FEATURE_USAGE = "/story feature N @person [@person …] | /story feature N none"
FEATURE_SUMMARY = "authors and coordinators: link the members who appear in story N"
FEATURE_DETAILS = ("Naming people again replaces the list; `none` clears it.",)
IMPACT_USAGE = "/story impact [@member]"
IMPACT_SUMMARY = ("your stories with what each reached, and totals; coordinators can ask "
                  "for any member's")
IMPACT_DETAILS = (
    "On the command line: `storydesk impact --member NAME [--from YYYY-MM-DD] "
    "[--format md|csv]`.",
)
_NUMBER = re.compile(r"^#?(\d{1,9})$")


def run_stats(inv: Invocation) -> Reply:
    words = inv.words
    if len(words) > 1 or (words and not words[0].isdigit()):
        raise Refused(f"Give at most a number of months. Usage: {STATS_USAGE}")
    months = int(words[0][:4]) if words else stats.DEFAULT_MONTHS
    return stats.stats(inv.session, inv.actor, inv.now, inv.policy, months)


def run_profile(inv: Invocation) -> Reply:
    words = inv.words
    if not words:
        return profile.show_profile(inv.session, inv.actor)
    if [w.lower() for w in words] == ["clear"]:
        return profile.clear_profile(inv.session, inv.actor)
    return profile.update_profile(inv.session, inv.actor, inv.now, words)


def run_feature(inv: Invocation) -> Reply:
    words = inv.words
    match = _NUMBER.match(words[0]) if words else None
    if match is None or len(words) < 2:
        raise Refused(f"Give the story number and the people featured. Usage: {FEATURE_USAGE}")
    rest = words[1:]
    people = [] if [w.lower() for w in rest] == ["none"] else [inv.resolve(w) for w in rest]
    return profile.feature(inv.session, inv.actor, inv.now, int(match.group(1)), people)


def run_impact(inv: Invocation) -> Reply:
    words = inv.words
    if len(words) > 1:
        raise Refused(f"Name at most one member. Usage: {IMPACT_USAGE}")
    member = inv.resolve(words[0]) if words else None
    return impact.impact(inv.session, inv.actor, inv.now, inv.policy, member)
