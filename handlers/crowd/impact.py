"""Impact statements: a member's published stories with dates, objective, format, link and
what each reached, with totals; in chat (`/story impact [@member]`), on the command line
(`storydesk impact --member NAME [--from DATE] [--format md|csv]`) and in the year's-end
"your year" message.

A member sees their own; coordinators anyone's. A figure Storydesk does not have is shown
as "—" (an empty cell in CSV), never as zero. Instagram reports non-followers reached for
the account, not per post, so a statement has no such column.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.errors import Refused
from handlers.members import is_coordinator
from handlers.reach.summary import posts_for
from handlers.reply import Block, Bullets, Fields, Heading, Paragraph, Reply
from storage.models import Member, Story

LIST_LIMIT = 40


@dataclass(frozen=True)
class ImpactLine:
    story_id: int
    title: str
    published: date | None
    objective: str | None
    format: str | None
    link: str | None
    reached: int | None
    views: int | None
    views_metric: str  # "views", or "impressions" for posts before Instagram's change


@dataclass(frozen=True)
class Impact:
    member: str
    since: date | None
    until: date
    lines: tuple[ImpactLine, ...]

    def total(self, name: str) -> int | None:
        known = [getattr(line, name) for line in self.lines if getattr(line, name) is not None]
        return sum(known) if known else None

    def known(self, name: str) -> int:
        return sum(1 for line in self.lines if getattr(line, name) is not None)


def member_named(session: Session, name: str) -> Member:
    """The one member whose display name or user id (`platform:id` also) is `name`."""
    wanted = name.strip().lstrip("@")
    platform, _, user_id = wanted.rpartition(":")
    everyone = session.exec(select(Member).order_by(col(Member.id))).all()
    found = [m for m in everyone
             if (platform and m.platform == platform and m.user_id == user_id)
             or m.user_id == wanted or m.display_name.casefold() == wanted.casefold()]
    if not found:
        raise Refused(f"no member is called {wanted[:40]!r}; give the display name or the "
                      "user id as in chat.")
    if len(found) > 1:
        choices = ", ".join(f"{m.platform}:{m.user_id} ({m.display_name})" for m in found[:5])
        raise Refused(f"{len(found)} members answer to {wanted[:40]!r}: {choices}. Give "
                      "platform:user-id.")
    return found[0]


def build_impact(session: Session, member: Member, now: datetime, policy: Policy,
                 since: date | None = None, until: date | None = None) -> Impact:
    """The member's stories published from `since` (local day, inclusive) to `until`
    (inclusive; default today)."""
    zone = policy.zone
    last = until or now.astimezone(zone).date()
    query = select(Story).where(Story.state == "published", Story.author_id == member.id,
                                col(Story.published_at).is_not(None))
    if since is not None:
        query = query.where(col(Story.published_at)
                            >= datetime.combine(since, time(0), tzinfo=zone).astimezone(UTC))
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    query = query.where(col(Story.published_at) < end)
    stories = list(session.exec(query.order_by(col(Story.published_at), col(Story.id))).all())
    posts = posts_for(session, stories)
    lines = []
    for story in stories:
        assert story.id is not None and story.published_at is not None
        post = posts.get(story.id)
        views, metric = (None, "views")
        if post is not None:
            views, metric = ((post.views, "views") if post.views is not None
                             else (post.impressions, "impressions")
                             if post.impressions is not None else (None, "views"))
        lines.append(ImpactLine(
            story.id, story.title, story.published_at.astimezone(zone).date(),
            story.objective, story.format, story.permalink or (post.permalink if post else None),
            post.reach if post else None, views, metric))
    return Impact(member.display_name, since, last, tuple(lines))


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def line_text(line: ImpactLine) -> str:
    kind = " · ".join(v for v in (line.objective, line.format) if v) or "no objective set"
    when = f"{line.published:%d %b %Y}" if line.published else "?"
    figures = f"accounts reached {_count(line.reached)}, {line.views_metric} {_count(line.views)}"
    link = f" {line.link}" if line.link else ""
    return f"#{line.story_id} {line.title} ({when}; {kind}): {figures}.{link}"


def totals_text(impact: Impact) -> str:
    stories = len(impact.lines)
    noun = "story" if stories == 1 else "stories"
    parts = [f"{stories} {noun}"]
    for name, label, short in (("reached", "accounts reached", "reach"),
                               ("views", "views or impressions", "view")):
        known = impact.known(name)
        if not known:
            parts.append(f"no {short} figures yet")
            continue
        partial = "" if known == stories else f" ({known} of {stories} with figures)"
        parts.append(f"{_count(impact.total(name))} {label}{partial}")
    return ", ".join(parts)


def impact_reply(impact: Impact, own: bool) -> Reply:
    whose = "Your" if own else f"{impact.member}'s"
    since = f" since {impact.since:%d %b %Y}" if impact.since else ""
    if not impact.lines:
        hint = " `/pitch` starts one." if own else ""
        return Reply(text=f"{whose} impact{since}: no published stories yet.{hint}")
    shown = impact.lines[-LIST_LIMIT:]
    blocks: list[Block] = [Heading(f"{whose} stories and what they reached{since}"),
                           Bullets(tuple(line_text(line) for line in shown))]
    if len(shown) < len(impact.lines):
        blocks.append(Paragraph(f"The {len(shown)} most recent of {len(impact.lines)}; "
                                "`storydesk impact` on the command line lists them all."))
    blocks.append(Fields((("Total", totals_text(impact)),)))
    blocks.append(Paragraph(
        "Totals add up each story's figures: someone who saw two stories counts twice. "
        "\"—\" is a figure Storydesk does not have."))
    return Reply(text=f"{whose} impact{since}: {totals_text(impact)}.", blocks=tuple(blocks),
                 data={"stories": len(impact.lines), "reached": impact.total("reached")})


def impact(session: Session, actor: Member, now: datetime, policy: Policy,
           member: Member | None = None) -> Reply:
    """`/story impact [@member]`: one's own; coordinators may ask for anyone's."""
    person = member or actor
    if person.id != actor.id and not is_coordinator(actor):
        raise Refused("You can see your own impact (`/story impact`); only coordinators can "
                      "see another member's.")
    return impact_reply(build_impact(session, person, now, policy), person.id == actor.id)


# --- for the command line -----------------------------------------------------------------

CSV_COLUMNS = ("story", "title", "published", "objective", "format", "link",
               "accounts_reached", "views", "views_metric")


def impact_csv(impact: Impact) -> str:
    """One row per story; unknown figures are empty cells, never zero."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in impact.lines:
        writer.writerow([line.story_id, line.title,
                         line.published.isoformat() if line.published else "",
                         line.objective or "", line.format or "", line.link or "",
                         "" if line.reached is None else line.reached,
                         "" if line.views is None else line.views, line.views_metric])
    return out.getvalue()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def impact_markdown(impact: Impact) -> str:
    since = f" since {impact.since:%d %B %Y}" if impact.since else ""
    lines = [f"# Impact of {_cell(impact.member)}{since}", "",
             f"Stories published up to {impact.until:%d %B %Y}.", ""]
    if not impact.lines:
        return "\n".join([*lines, "No published stories yet.", ""])
    lines += ["| # | story | published | objective | format | accounts reached | views |",
              "|---|---|---|---|---|---:|---:|"]
    for line in impact.lines:
        title = f"[{_cell(line.title)}]({line.link})" if line.link else _cell(line.title)
        views = _count(line.views) + (" (impressions)" if line.views_metric == "impressions"
                                      and line.views is not None else "")
        lines.append(f"| {line.story_id} | {title} | {line.published or ''} | "
                     f"{line.objective or ''} | {line.format or ''} | {_count(line.reached)} | "
                     f"{views} |")
    lines += ["", f"**Total:** {totals_text(impact)}.", "",
              "Totals add up each story's figures: someone who saw two stories counts twice. "
              "— marks a figure Storydesk does not have.", ""]
    return "\n".join(lines)
