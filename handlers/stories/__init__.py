"""Stories: the pitch, the lifecycle from accepted to published, listing and showing.

Each function takes the session, the acting member, `now` and the team's Policy; it changes
state, writes the history line and the notifications it causes (in the same transaction),
and returns a neutral Reply. Refusals raise `Refused` with a sentence for the user.

One module per idea, each importing only those listed before it:

- `zone`: the team's today and how a time reads to it;
- `moves`: loading a story for a move (who may, from which state, stale cards), changing
  state, the history line and the story's version;
- `card`: the story card and its buttons, the messages to the author and the reviewer;
- `reviewers`: choosing a reviewer, `/story reassign`, handing over when a reviewer is away;
- `pitching`: the pitch and what its fields accept;
- `scheduling`: free slots, the lead and the embargo, `/story schedule`;
- `lifecycle`: accept, decline, start, draft, changes, approve, withdraw;
- `publishing`: `/story published` and stories found published;
- `listing`: `/story list` and `/story show`.

Every public name is importable from here, as `from handlers.stories import pitch` or
`stories.pitch(...)`.
"""

from __future__ import annotations

from handlers.stories.card import (
    CARD_BUTTONS,
    announce_card,
    card,
    card_actions,
    card_blocks,
    card_posts,
    member_name,
    member_names,
    move_hint,
    reviewer_message,
    tell_author,
    tell_reviewer,
)
from handlers.stories.lifecycle import (
    accept,
    approve,
    decline,
    request_changes,
    start_drafting,
    submit_draft,
    tell_accepted,
    withdraw,
)
from handlers.stories.listing import LIST_LIMIT, list_stories, show, story_line
from handlers.stories.moves import (
    change_state,
    get_story,
    history_line,
    load_for_move,
    record,
    write_history,
)
from handlers.stories.pitching import (
    FEATURED_MAX,
    LINK_MAX,
    REASON_MAX,
    SAME_PITCH_WITHIN,
    SUMMARY_MAX,
    TITLE_MAX,
    PitchForm,
    clean_line,
    is_result_link,
    is_web_link,
    pitch,
    recent_same_pitch,
    validate_pitch,
)
from handlers.stories.publishing import mark_published, publish
from handlers.stories.reviewers import (
    WAITING_ON_REVIEWER,
    assign_reviewer,
    choose_reviewer,
    hand_over_if_away,
    hand_over_waiting_reviews,
    reassign,
    review_team,
    set_reviewer,
)
from handlers.stories.scheduling import (
    earliest_slot_time,
    embargo_lifted,
    next_slot,
    schedule,
    schedule_detail,
    scheduled_times,
    stories_at_day,
)
from handlers.stories.zone import local_time_label, local_today

__all__ = [
    "CARD_BUTTONS",
    "FEATURED_MAX",
    "LINK_MAX",
    "LIST_LIMIT",
    "REASON_MAX",
    "SAME_PITCH_WITHIN",
    "SUMMARY_MAX",
    "TITLE_MAX",
    "WAITING_ON_REVIEWER",
    "PitchForm",
    "accept",
    "announce_card",
    "approve",
    "assign_reviewer",
    "card",
    "card_actions",
    "card_blocks",
    "card_posts",
    "change_state",
    "choose_reviewer",
    "clean_line",
    "decline",
    "earliest_slot_time",
    "embargo_lifted",
    "get_story",
    "hand_over_if_away",
    "hand_over_waiting_reviews",
    "history_line",
    "is_result_link",
    "is_web_link",
    "list_stories",
    "load_for_move",
    "local_time_label",
    "local_today",
    "mark_published",
    "member_name",
    "member_names",
    "move_hint",
    "next_slot",
    "pitch",
    "publish",
    "reassign",
    "recent_same_pitch",
    "record",
    "request_changes",
    "review_team",
    "reviewer_message",
    "schedule",
    "schedule_detail",
    "scheduled_times",
    "set_reviewer",
    "show",
    "start_drafting",
    "stories_at_day",
    "story_line",
    "submit_draft",
    "tell_accepted",
    "tell_author",
    "tell_reviewer",
    "validate_pitch",
    "withdraw",
    "write_history",
]
