"""Members, the coordinating team and away periods."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from sqlalchemy import bindparam
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.errors import Refused
from handlers.reply import Bullets, Fields, Heading, Reply, info, success
from storage.models import AwayPeriod, Member, SystemState

COORDINATOR = "coordinator"
CONTRIBUTOR = "contributor"
MAX_AWAY_DAYS = 366
_SEEDED_KEY = "team-seeded"
_CLAIMED_KEY = "team-claimed"


# Every command looks its caller up: built once, it costs a fraction of being built anew.
_FIND_MEMBER = select(Member).where(col(Member.platform) == bindparam("platform"),
                                    col(Member.user_id) == bindparam("user_id"))


def find_member(session: Session, platform: str, user_id: str) -> Member | None:
    return session.exec(_FIND_MEMBER, params={"platform": platform, "user_id": user_id}).first()


def ensure_member(
    session: Session,
    platform: str,
    user_id: str,
    display_name: str,
    now: datetime,
    timezone: str | None = None,
    locale: str | None = None,
) -> Member:
    """The member with this identity, created on first sight; profile fields refreshed."""
    member = find_member(session, platform, user_id)
    if member is None:
        member = Member(
            platform=platform,
            user_id=user_id,
            display_name=display_name[:100] or user_id,
            timezone=timezone,
            locale=locale,
            created_at=now,
        )
        try:
            # A savepoint: a first-time person's two requests at once (on PostgreSQL, or
            # on two replicas) both find nobody; the second one's insert fails alone.
            with session.begin_nested():
                session.add(member)
                session.flush()
            return member
        except IntegrityError:
            member = find_member(session, platform, user_id)
            if member is None:
                raise
    changed = False
    if display_name and member.display_name != display_name[:100]:
        member.display_name = display_name[:100]
        changed = True
    if timezone and member.timezone != timezone:
        member.timezone = timezone
        changed = True
    if locale and member.locale != locale:
        member.locale = locale
        changed = True
    if changed:
        session.add(member)
        session.flush()
    return member


def is_coordinator(member: Member) -> bool:
    return member.role == COORDINATOR


def require_coordinator(member: Member, what: str) -> None:
    if not is_coordinator(member):
        raise Refused(
            f"Only coordinators can {what}; you are a contributor. "
            "Ask a coordinator (`/story team` lists them)."
        )


def coordinators(session: Session) -> list[Member]:
    return list(
        session.exec(
            select(Member).where(Member.role == COORDINATOR).order_by(col(Member.id))
        ).all()
    )


def seed_coordinators(
    session: Session, identities: Sequence[tuple[str, str]], now: datetime
) -> int:
    """On first start only, make the configured (platform, user id) pairs coordinators.

    Afterwards the team is managed with `/story team add|remove`, so a later change of
    STORYDESK_COORDINATORS does not undo what the team decided.
    """
    if session.get(SystemState, _SEEDED_KEY) is not None or not identities:
        return 0
    for platform, user_id in identities:
        member = ensure_member(session, platform, user_id, user_id, now)
        member.role = COORDINATOR
        session.add(member)
    session.add(SystemState(key=_SEEDED_KEY, value=now.isoformat()))
    session.flush()
    return len(identities)


NO_TEAM_HINT = ("Anyone may run `/story team claim` to become the first coordinator, "
                "then add the others with `/story team add @person`. On the server, "
                "`storydesk team add NAME --platform P` does the same.")


def team(session: Session, today: date) -> Reply:
    members = coordinators(session)
    if not members:
        return info("The team has no coordinators yet.", Bullets((NO_TEAM_HINT,)))
    lines = []
    for member in members:
        away = current_or_next_away(session, member, today)
        note = f" (away {away.first_day} to {away.last_day})" if away else ""
        lines.append(f"{member.display_name}{note}")
    return info(
        f"Coordinators: {', '.join(m.display_name for m in members)}",
        Heading("Coordinators"),
        Bullets(tuple(lines)),
    )


def add_coordinator(session: Session, actor: Member, member: Member) -> Reply:
    require_coordinator(actor, "change the team")
    if is_coordinator(member):
        return info(f"{member.display_name} is already a coordinator.")
    member.role = COORDINATOR
    session.add(member)
    session.flush()
    return success(f"{member.display_name} is now a coordinator.")


def claim_team(session: Session, actor: Member) -> Reply:
    """The first coordinator of an empty team: whoever claims it. Refused once it has one."""
    members = coordinators(session)
    if members:
        names = ", ".join(m.display_name for m in members)
        if is_coordinator(actor):
            return info("You are a coordinator already.")
        raise Refused(f"The team has coordinators already ({names}): `/story team claim` works "
                      "only while it has none. Ask one of them to run `/story team add @you`.")
    # Two members claiming at the same moment both see an empty team; the first to insert
    # this row wins, the other's transaction fails on its key and changes nothing.
    if session.get(SystemState, _CLAIMED_KEY) is None:
        session.add(SystemState(key=_CLAIMED_KEY, value=f"{actor.platform}:{actor.user_id}"))
    actor.role = COORDINATOR
    session.add(actor)
    session.flush()
    return success(f"{actor.display_name} is now the team's first coordinator. "
                   "Add the others with `/story team add @person`.")


def appoint_coordinator(session: Session, platform: str, user_id: str,
                        display_name: str | None, now: datetime) -> Reply:
    """Make someone a coordinator from the server's command line (no chat actor needed).

    Without a display name a known member keeps theirs; a new one shows the id until their
    first command brings the platform's name.
    """
    member = find_member(session, platform, user_id)
    if member is None or display_name:
        member = ensure_member(session, platform, user_id, display_name or user_id, now)
    if is_coordinator(member):
        return info(f"{member.display_name} ({platform}) is already a coordinator.")
    member.role = COORDINATOR
    session.add(member)
    session.flush()
    return success(f"{member.display_name} ({platform}) is now a coordinator.")


def remove_coordinator(session: Session, actor: Member, member: Member) -> Reply:
    require_coordinator(actor, "change the team")
    if not is_coordinator(member):
        return info(f"{member.display_name} is not a coordinator.")
    if len(coordinators(session)) == 1:
        raise Refused("That would leave the team without coordinators; add someone first.")
    member.role = CONTRIBUTOR
    session.add(member)
    session.flush()
    return success(f"{member.display_name} is no longer a coordinator.")


def add_away(session: Session, actor: Member, first: date, last: date, today: date) -> Reply:
    if last < first:
        raise Refused(f"The away period ends ({last}) before it starts ({first}).")
    if last < today:
        raise Refused(f"That period ended already ({last}); give dates from today on.")
    if (last - first).days > MAX_AWAY_DAYS:
        raise Refused("An away period can be at most a year long.")
    assert actor.id is not None
    session.add(AwayPeriod(member_id=actor.id, first_day=first, last_day=last))
    session.flush()
    return success(
        f"Noted: you are away from {first} to {last}. No reviews will be assigned to you "
        "for those dates.",
        Fields((("From", first.isoformat()), ("To", last.isoformat()))),
    )


def away_days(session: Session, member_ids: Iterable[int]) -> dict[int, list[tuple[date, date]]]:
    """Each member's away periods (first and last day), for many members in one query: the
    tick asks about every waiting story's reviewer at once."""
    ids = sorted(set(member_ids))
    away: dict[int, list[tuple[date, date]]] = {}
    if not ids:
        return away
    for period in session.exec(select(AwayPeriod).where(col(AwayPeriod.member_id).in_(ids))
                               .order_by(col(AwayPeriod.first_day))).all():
        away.setdefault(period.member_id, []).append((period.first_day, period.last_day))
    return away


def current_or_next_away(session: Session, member: Member, today: date) -> AwayPeriod | None:
    assert member.id is not None
    return session.exec(
        select(AwayPeriod)
        .where(AwayPeriod.member_id == member.id, AwayPeriod.last_day >= today)
        .order_by(col(AwayPeriod.first_day))
    ).first()


def set_reminders(session: Session, actor: Member, enabled: bool) -> Reply:
    actor.reminders_enabled = enabled
    session.add(actor)
    session.flush()
    if enabled:
        return success("Direct reminders are on again.")
    return success(
        "Direct reminders are off, and so are invitations to pitch and the year's-end "
        "summary, also those already on their way. You will still get messages about your "
        "stories' decisions; `/story reminders on` turns reminders back on."
    )
