"""The monthly audience summary: followers by age group, country and gender.

Read from the newest follower-demographics snapshot of each breakdown; the share of 18-34
year-olds (the account's target) is compared with the snapshot four weeks before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from handlers.context import Policy
from handlers.reach.weeks import local_today, percent
from handlers.reply import Fields, Heading, Image, Paragraph, Reply
from storage.models import Member
from storage.reach import AudienceSnapshot

TOP_COUNTRIES = 5

AGE_ORDER = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
YOUNG_ADULTS = ("18-24", "25-34")
GENDER_LABELS = {"F": "women", "M": "men", "U": "not given"}
AUDIENCE_METRIC = "follower_demographics"


@dataclass(frozen=True)
class AudienceSummary:
    """Followers by age group, country and gender, from the newest snapshot of each."""

    name: str
    title: str
    as_of: date
    taken_on: date | None
    age: tuple[tuple[str, int], ...]
    countries: tuple[tuple[str, int], ...]  # the top countries, then "others"
    gender: tuple[tuple[str, int], ...]
    young_share: float | None  # the 18-34 share of followers with a known age
    previous_taken_on: date | None = None
    previous_young_share: float | None = None

    @property
    def has_data(self) -> bool:
        return bool(self.age or self.countries or self.gender)


AudienceChartMaker = Callable[[AudienceSummary], "str | None"]


def latest_snapshot(
    session: Session, breakdown: str, on_or_before: date
) -> tuple[date | None, dict[str, int]]:
    taken = session.exec(
        select(func.max(col(AudienceSnapshot.taken_on))).where(
            AudienceSnapshot.metric == AUDIENCE_METRIC,
            AudienceSnapshot.breakdown == breakdown,
            col(AudienceSnapshot.taken_on) <= on_or_before,
        )
    ).one()
    if taken is None:
        return None, {}
    rows = session.exec(
        select(col(AudienceSnapshot.key), col(AudienceSnapshot.value)).where(
            AudienceSnapshot.metric == AUDIENCE_METRIC,
            AudienceSnapshot.breakdown == breakdown,
            AudienceSnapshot.taken_on == taken,
        )
    ).all()
    return taken, {key: value for key, value in rows}


def young_share(ages: Mapping[str, int]) -> float | None:
    total = sum(ages.values())
    if not total:
        return None
    return sum(ages.get(group, 0) for group in YOUNG_ADULTS) / total


def _age_key(group: str) -> tuple[int, str]:
    return (AGE_ORDER.index(group), group) if group in AGE_ORDER else (len(AGE_ORDER), group)


def build_audience(session: Session, as_of: date) -> AudienceSummary:
    age_on, ages = latest_snapshot(session, "age", as_of)
    country_on, countries = latest_snapshot(session, "country", as_of)
    gender_on, genders = latest_snapshot(session, "gender", as_of)
    ranked = sorted(countries.items(), key=lambda item: (-item[1], item[0]))
    top = ranked[:TOP_COUNTRIES]
    rest = sum(value for _, value in ranked[TOP_COUNTRIES:])
    if rest:
        top.append(("others", rest))
    previous_on: date | None = None
    previous_ages: dict[str, int] = {}
    if age_on is not None:
        previous_on, previous_ages = latest_snapshot(
            session, "age", age_on - timedelta(days=28)
        )
    taken = max((d for d in (age_on, country_on, gender_on) if d is not None), default=None)
    return AudienceSummary(
        name=f"audience-{as_of:%Y-%m}",
        title=f"Followers, {taken:%B %Y}" if taken else "Followers",
        as_of=as_of,
        taken_on=taken,
        age=tuple(sorted(ages.items(), key=lambda item: _age_key(item[0]))),
        countries=tuple(top),
        gender=tuple(sorted(genders.items())),
        young_share=young_share(ages),
        previous_taken_on=previous_on,
        previous_young_share=young_share(previous_ages),
    )


def _shares(items: Sequence[tuple[str, int]], labels: Mapping[str, str] | None = None) -> str:
    total = sum(value for _, value in items)
    if not total:
        return "no data"
    labels = labels or {}
    return ", ".join(
        f"{labels.get(key, key)} {value / total * 100:.0f}%" for key, value in items
    )


def audience_reply(summary: AudienceSummary, image: str | None = None) -> Reply:
    if not summary.has_data:
        text = ("No audience figures yet: they come with `storydesk reach fetch` "
                "(Instagram's follower demographics).")
        return Reply(text=text, blocks=(Heading("Audience"), Paragraph(text)))
    assert summary.taken_on is not None
    young = "no data"
    if summary.young_share is not None:
        young = percent(summary.young_share)
        if summary.previous_young_share is not None and summary.previous_taken_on:
            points = (summary.young_share - summary.previous_young_share) * 100
            young += (f" ({points:+.1f} points since {summary.previous_taken_on:%d %b %Y})")
    pairs = (
        ("Aged 18–34 (the target)", young),
        ("Age groups", _shares(summary.age)),
        ("Top countries", _shares(summary.countries)),
        ("Gender", _shares(summary.gender, GENDER_LABELS)),
    )
    blocks: list[Heading | Paragraph | Fields | Image] = [
        Heading(f"Audience, {summary.taken_on:%B %Y}"),
        Fields(pairs),
        Paragraph(f"Followers whose age, country or gender Instagram knows, as of "
                  f"{summary.taken_on:%d %b %Y}; Instagram lists the top 45 of each."),
    ]
    if image:
        blocks.append(Image(image, summary.title))
    return Reply(text=f"Audience: {young} of followers are aged 18–34.", blocks=tuple(blocks),
                 data={"as_of": summary.as_of.isoformat()})


def audience_summary(
    session: Session, actor: Member, now: datetime, policy: Policy,
    *, chart: AudienceChartMaker | None = None,
) -> Reply:
    """`/story reach audience`: the newest audience figures."""
    summary = build_audience(session, local_today(now, policy))
    image = chart(summary) if chart and summary.has_data else None
    return audience_reply(summary, image)
