"""Properties of local time: due moments after now, never on a skipped wall-clock time,
one weekly post per ISO week across daylight-saving changes, UTC round trips."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.context import ReminderRules
from handlers.reminders import (
    Deferral,
    coming_week_occurrence,
    defer,
    next_pitch_call,
    period_post_due,
)
from handlers.timing import at_local, is_allowed, is_quiet, next_allowed, next_weekly
from storage.models import UTCDateTime

ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "America/Santiago",
         "Asia/Kolkata", "Pacific/Chatham", "Europe/London", "UTC"]

instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)
).map(lambda d: d.replace(tzinfo=UTC))
zones = st.sampled_from(ZONES).map(ZoneInfo)
clock_times = st.times().map(lambda t: t.replace(second=0, microsecond=0))
working_days = st.sets(st.integers(0, 6), min_size=1).map(lambda s: tuple(sorted(s)))
quiet = st.one_of(st.none(), st.tuples(clock_times, clock_times).filter(lambda p: p[0] != p[1]))


@st.composite
def rules(draw: st.DrawFn) -> ReminderRules:
    hours = draw(quiet)
    return ReminderRules(
        working_days=draw(working_days),
        quiet_start=hours[0] if hours else None,
        quiet_end=hours[1] if hours else None,
        remind_at=draw(clock_times),
    )


def exists_locally(moment: datetime, zone: ZoneInfo) -> bool:
    """The wall-clock time shown at `moment` maps back to `moment`: it is not a skipped one."""
    local = moment.astimezone(zone)
    again = datetime.combine(local.date(), local.time(), tzinfo=zone).replace(fold=local.fold)
    return again.astimezone(UTC) == moment


@given(instants, zones, rules())
@settings(max_examples=300)
def test_a_deferred_message_is_due_at_or_after_its_moment_and_allowed(
    moment: datetime, zone: ZoneInfo, rule: ReminderRules
) -> None:
    due = next_allowed(moment, zone, rule)
    assert due >= moment
    assert is_allowed(due, zone, rule)
    assert exists_locally(due, zone)
    if is_allowed(moment, zone, rule):
        assert due == moment
    assert due - moment <= timedelta(days=8)


@given(instants, zones, rules())
@settings(max_examples=200)
def test_nothing_allowed_is_skipped_before_the_deferred_moment(
    moment: datetime, zone: ZoneInfo, rule: ReminderRules
) -> None:
    """Within a working day, no allowed minute lies between the moment and where it lands,
    except on days after the first, which start at `day_start`, not at midnight."""
    due = next_allowed(moment, zone, rule)
    local_moment, local_due = moment.astimezone(zone), due.astimezone(zone)
    if local_due.date() == local_moment.date() and due > moment:
        probe = moment + timedelta(minutes=1)
        while probe < due - timedelta(minutes=1):
            assert not is_allowed(probe, zone, rule), (probe, due)
            probe += timedelta(minutes=17)


@given(instants, zones, st.integers(0, 6), clock_times)
@settings(max_examples=300)
def test_the_next_weekly_moment_is_after_now_and_exists(
    now: datetime, zone: ZoneInfo, weekday: int, at: time
) -> None:
    moment = next_weekly(now, weekday, at, zone)
    assert moment > now
    assert moment.astimezone(zone).weekday() == weekday
    assert exists_locally(moment, zone)
    assert moment - now <= timedelta(days=7, hours=3)


@given(instants, zones, st.integers(1, 28))
@settings(max_examples=200)
def test_the_next_call_for_pitches_is_after_now(now: datetime, zone: ZoneInfo,
                                                every: int) -> None:
    rule = ReminderRules(pitch_call_every_days=every)
    following = next_pitch_call(now, zone, rule)
    assert following > now
    assert following - now <= timedelta(days=every, hours=3)


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)), clock_times, zones)
@settings(max_examples=300)
def test_a_wall_clock_time_becomes_a_real_instant(day: date, at: time, zone: ZoneInfo) -> None:
    moment = at_local(day, at, zone)
    assert moment.tzinfo is UTC
    assert exists_locally(moment, zone)
    local = moment.astimezone(zone)
    # Only a skipped time moves, and only forward, by at most the gap (an hour or less).
    assert local.replace(tzinfo=None) >= datetime.combine(day, at)
    assert local.replace(tzinfo=None) - datetime.combine(day, at) <= timedelta(hours=1)


@given(instants, zones, rules(), st.one_of(st.none(), st.timedeltas(
    min_value=timedelta(0), max_value=timedelta(days=20))))
@settings(max_examples=200)
def test_snoozes_and_quiet_hours_defer_but_never_drop(
    moment: datetime, zone: ZoneInfo, rule: ReminderRules, snooze: timedelta | None
) -> None:
    until = moment + snooze if snooze is not None else None
    due = defer(moment, Deferral(zone=zone, snoozed_until=until), rule)
    assert due >= moment
    if until is not None:
        assert due >= until
    assert is_allowed(due, zone, rule)


@st.composite
def tick_times(draw: st.DrawFn) -> list[datetime]:
    """Ticks over a year around a DST change, with random gaps (downtime) between them."""
    start = draw(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1)))
    moment = start.replace(tzinfo=UTC)
    result = []
    gaps = draw(st.lists(st.integers(1, 60 * 60 * 24 * 3), min_size=20, max_size=120))
    for gap in gaps:
        moment += timedelta(seconds=gap * 7)
        result.append(moment)
    return result


@given(tick_times(), st.sampled_from(["Europe/Berlin", "America/New_York",
                                      "Australia/Sydney", "America/Santiago"]),
       st.integers(0, 6), clock_times)
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_exactly_one_weekly_post_per_iso_week(
    ticks: list[datetime], zone_name: str, weekday: int, at: time
) -> None:
    zone = ZoneInfo(zone_name)
    rule = ReminderRules(coming_week_weekday=weekday, coming_week_at=at, late_cutoff_hours=24)
    posted: dict[str, datetime] = {}
    for now in ticks:
        occurrence = coming_week_occurrence(now, zone, rule)
        if period_post_due(occurrence, set(posted), now):
            posted[occurrence.key] = now
    weeks_seen: dict[tuple[int, int], int] = {}
    for key, when in posted.items():
        local = when.astimezone(zone)
        iso = local.isocalendar()
        weeks_seen[(iso[0], iso[1])] = weeks_seen.get((iso[0], iso[1]), 0) + 1
        assert key == f"coming-week:{iso[0]}-W{iso[1]:02d}"
        assert local.weekday() >= weekday
        scheduled = at_local(local.date() - timedelta(days=local.weekday() - weekday), at, zone)
        assert scheduled <= when < scheduled + timedelta(hours=24)
    assert all(count == 1 for count in weeks_seen.values())
    # A week in which the bot ticked within a day after the post's moment got its post.
    for now in ticks:
        occurrence = coming_week_occurrence(now, zone, rule)
        if occurrence.due <= now < occurrence.expires:
            assert occurrence.key in posted


@given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1),
                    timezones=st.sampled_from([ZoneInfo(z) for z in ZONES])))
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_utc_columns_round_trip_any_aware_time(moment: datetime) -> None:
    engine = _engine()
    with engine.begin() as connection:
        connection.execute(_table.delete())
        connection.execute(_table.insert().values(id=1, at=moment))
        stored = connection.execute(sa.select(_table.c.at)).scalar_one()
    assert stored.tzinfo is UTC
    # Compare instants: PEP 495 makes a skipped or repeated wall-clock time compare unequal
    # to every time in another zone, so `stored == moment` is not the question here.
    assert stored == moment.astimezone(UTC)
    assert stored.timestamp() == moment.timestamp()
    assert stored.astimezone(moment.tzinfo).timestamp() == moment.timestamp()


def test_quiet_hours_wrap_midnight() -> None:
    rule = ReminderRules(quiet_start=time(20), quiet_end=time(8))
    assert is_quiet(time(23), rule) and is_quiet(time(7, 59), rule)
    assert not is_quiet(time(8), rule) and not is_quiet(time(19, 59), rule)
    lunch = ReminderRules(quiet_start=time(12), quiet_end=time(13))
    assert is_quiet(time(12, 30), lunch) and not is_quiet(time(13), lunch)


_metadata = sa.MetaData()
_table = sa.Table("moments", _metadata, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("at", UTCDateTime))
_engines: list[sa.Engine] = []


def _engine() -> sa.Engine:
    if not _engines:
        engine = sa.create_engine("sqlite://")
        _metadata.create_all(engine)
        _engines.append(engine)
    return _engines[0]


def test_a_skipped_time_with_fold_one_still_moves_forward() -> None:
    """Found by the property above: 02:00 on Sydney's spring-forward night, fold=1."""
    sydney = ZoneInfo("Australia/Sydney")
    moment = at_local(date(2024, 10, 6), time(2, 0, fold=1), sydney)
    assert moment.astimezone(sydney).replace(tzinfo=None) == datetime(2024, 10, 6, 3, 0)
