"""`/story reach ...` in chat: the weekly summary, manual entry, the audience, one's impact.

In chat the summaries come as text: a slash command must be answered within seconds, and
the chart is attached to the Monday post (`storydesk digest preview --png` draws it any
time).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from handlers.crowd import impact
from handlers.errors import Refused
from handlers.reach import audience, store, summary
from handlers.reply import Reply

if TYPE_CHECKING:
    from bot.invocation import Invocation

REACH_USAGE = ("/story reach [YYYY-Www] | /story reach add YYYY-MM-DD reached=N "
               "nonfollowers=N views=N [followers=N] | /story reach audience | /story reach mine")
REACH_SUMMARY = "the weekly reach summary, the audience, your stories' reach; coordinators "\
    "enter a day's figures with `add`"
REACH_DETAILS = (
    "`/story reach` shows last week; `/story reach 2026-W47` any week.",
    "`/story reach add 2026-11-18 reached=1234 nonfollowers=800 views=5600 followers=1510` "
    "stores one day's figures from Instagram's app (coordinators; entering a day again "
    "replaces it). Before 21 April 2025 Instagram reported impressions: use impressions=N.",
    "`/story reach audience`: followers by age, country and gender. "
    "`/story reach mine`: what your published stories reached, as `/story impact` says.",
)
_WEEK = re.compile(r"^\d{4}-?[Ww]\d{1,2}$")


def run_reach(inv: Invocation) -> Reply:
    words = inv.words
    if not words:
        return summary.weekly_summary(inv.session, inv.actor, inv.now, inv.policy)
    first = words[0].lower()
    if first == "add":
        return store.add_manual(inv.session, inv.actor, inv.now, inv.policy,
                                inv.args.split(maxsplit=1)[1] if len(words) > 1 else "")
    if len(words) == 1 and _WEEK.match(words[0]):
        return summary.weekly_summary(inv.session, inv.actor, inv.now, inv.policy, words[0])
    if words == ["audience"]:
        return audience.audience_summary(inv.session, inv.actor, inv.now, inv.policy)
    if words in (["mine"], ["impact"]):  # the older name of `/story impact`
        return impact.impact(inv.session, inv.actor, inv.now, inv.policy)
    raise Refused(f"I don't understand `reach {' '.join(words)[:40]}`. Usage: {REACH_USAGE}")
