"""The column names of the files `storydesk reach import` reads, in English and in German.

Where the names come from:

- Meta Business Suite, content export (Insights -> Content -> Export data, one row per post).
  English header as written by current exports and quoted by public projects that parse
  them: "Post ID", "Account ID", "Account username", "Account name", "Description",
  "Duration (sec)", "Publish time", "Permalink", "Post type", "Data comment", "Date"
  (holds "Lifetime", not a day), "Views", "Reach", "Likes", "Shares", "Follows",
  "Comments", "Saves"; exports from before April 2025 carry "Impressions" instead of
  "Views". Meta does not document the header, in either language. The German names
  below ("Beitrags-ID", "Konto-ID", "Konto-Benutzername", "Kontoname", "Beschreibung",
  "Dauer (Sek.)", "Veröffentlichungszeitpunkt", "Permalink", "Beitragstyp",
  "Datenkommentar", "Datum" holding "Gesamte Laufzeit", "Aufrufe", "Reichweite" or
  "Erreichte Konten", "„Gefällt mir“-Angaben", "Geteilte Inhalte", "Follows",
  "Kommentare", "Gespeichert" or "Gespeicherte Beiträge", "Impressionen") are those of the
  German Business Suite interface as public projects that import German exports quote
  them; one of them notes that its German header is reconstructed and that names vary
  between exports ("Reichweite" / "Erreichte Konten"). Hence the variants, and hence
  every other column is named in the output: check the names against a real German
  export when one comes in.
- Meta Business Suite, daily figures (Insights -> Overview -> Export): one file per figure,
  UTF-16 with a byte-order mark, a `sep=,` line, the figure's name ("Instagram reach",
  "Instagram follows"), then the header "Date","Primary" and one row per day,
  `"2026-11-16T00:00:00","1234"`, as public projects that import these files quote them.
  No German one was seen: the figure's name is matched by word ("reach", "Reichweite",
  "Erreichte Konten", "views", "Aufrufe", ...) and the header "Datum","Primär" is assumed
  by analogy with the interface's German.
- Storydesk's own daily account file: `date` and the metric names Storydesk stores
  (`accounts_reached`, ...), or the same in words, English or German (see README).

A column not listed is named in the import's output as not recognised, so a renamed
column in a new export shows up at once instead of being dropped in silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.reach.locales import ENGLISH, GERMAN
from storage.reach import DAILY_METRICS

CONTENT_KIND = "Meta Business Suite content export"
DAILY_KIND = "daily account file"
META_DAILY_KIND = "Meta Business Suite daily figures"

# field -> (English names, German names); names as `normalise` leaves them.
CONTENT_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "media_id": (("post id",), ("beitrags-id",)),
    "published_at": (("publish time",), ("veröffentlichungszeitpunkt",)),
    "permalink": (("permalink",), ("permalink",)),
    "post_type": (("post type",), ("beitragstyp",)),
    "caption": (("description",), ("beschreibung",)),
    "views": (("views",), ("aufrufe",)),
    "impressions": (("impressions",), ("impressionen",)),
    "reach": (("reach", "accounts reached"), ("reichweite", "erreichte konten")),
    "likes": (("likes",), ("gefällt mir-angaben", "gefällt mir")),
    "shares": (("shares",), ("geteilte inhalte", "geteilt")),
    "comments": (("comments",), ("kommentare",)),
    "saves": (("saves",), ("gespeichert", "gespeicherte beiträge")),
    "follows": (("follows",), ("follows",)),
}
CONTENT_FIGURES = ("views", "impressions", "reach", "likes", "shares", "comments", "saves",
                   "follows")
# In the export, read nowhere: the account, the video's length, Meta's remarks, and "Date",
# which holds "Lifetime" ("Gesamte Laufzeit").
CONTENT_UNUSED = (
    ("account id", "account username", "account name", "duration (sec)", "data comment",
     "date"),
    ("konto-id", "konto-benutzername", "kontoname", "dauer (sek.)", "datenkommentar",
     "datum"),
)

DAILY_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "date": (("date",), ("datum",)),
    "accounts_reached": (("accounts reached", "reach"), ("erreichte konten", "reichweite")),
    "non_followers_reached": (("non-followers reached", "non followers reached"),
                              ("erreichte nicht-follower", "nicht-follower erreicht")),
    "views": (("views",), ("aufrufe",)),
    "impressions": (("impressions",), ("impressionen",)),
    "followers": (("followers", "follower count"), ("follower", "anzahl follower")),
    "new_followers": (("new followers", "follows"), ("neue follower", "follows")),
}
# Rates and shares are Storydesk's to compute (reach ratio = reached / views); read nowhere.
RATE_NAMES = ("reach ratio", "reach_ratio", "engagement rate", "non-follower share",
              "reichweitenquote", "interaktionsrate", "anteil nicht-follower")

# Meta's daily file: the figure's name on the line before the header -> Storydesk's metric.
META_FIGURES = (
    (("reach", "reichweite", "erreichte konten"), "accounts_reached"),
    (("views", "aufrufe"), "views"),
    (("impressions", "impressionen"), "impressions"),
    (("follows",), "new_followers"),
)


class LayoutProblem(Exception):
    """The header is not one Storydesk knows; the message says what it expected."""


@dataclass
class Layout:
    kind: str
    columns: dict[str, int]  # field -> column index
    language: str | None  # of the header: ENGLISH, GERMAN or None (Storydesk's own names)
    not_recognised: list[str] = field(default_factory=list)
    rates: list[str] = field(default_factory=list)
    metric: str = ""  # Meta's daily file: what its "Primary" column holds
    title: str = ""
    header: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        language = {ENGLISH: ", English", GERMAN: ", German"}.get(self.language or "", "")
        if self.kind == META_DAILY_KIND:
            return f"{self.kind}: {self.title}{language}"
        return f"{self.kind}{language}"


def normalise(name: str) -> str:
    """Lower case, single spaces, without byte-order mark and quotation marks."""
    text = name.replace("\ufeff", "")
    for mark in "\"'„“”‚‘’":
        text = text.replace(mark, "")
    return " ".join(text.strip().lower().replace("_", " ").split())


def _lookup(table: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
            ) -> dict[str, tuple[str, str | None]]:
    """name -> (field, language), the language None for names both languages share."""
    found: dict[str, tuple[str, str | None]] = {}
    for name_field, (english, german) in table.items():
        for name in english:
            found[name] = (name_field, None if name in german else ENGLISH)
        for name in german:
            found.setdefault(name, (name_field, GERMAN))
    return found


_CONTENT = _lookup(CONTENT_NAMES)
_DAILY = _lookup(DAILY_NAMES)
# Columns of a content export Storydesk does not keep, and the language each says (English
# where both languages share the name).
_CONTENT_UNUSED: dict[str, str | None] = {**dict.fromkeys(CONTENT_UNUSED[1], GERMAN),
                                          **dict.fromkeys(CONTENT_UNUSED[0], ENGLISH)}
for _metric in DAILY_METRICS:
    _DAILY[normalise(_metric)] = (_metric, None)  # Storydesk's own names: no language


def _language(languages: list[str | None]) -> str | None:
    german, english = languages.count(GERMAN), languages.count(ENGLISH)
    if german == english:
        return None
    return GERMAN if german > english else ENGLISH


def _check_twice(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise LayoutProblem(f"the column {name!r} appears twice in the header")
        seen.add(name)


def detect(header: Sequence[str], title: str = "") -> Layout:
    """The layout of a file from its header (and the line before it, for Meta's daily file)."""
    names = [normalise(name) for name in header]
    _check_twice(names)
    layout: Layout | None = None
    if any(name in ("post id", "beitrags-id") for name in names):
        layout = _content(header, names)
    elif {"primary", "primär"} & set(names) and {"date", "datum"} & set(names):
        layout = _meta_daily(header, names, title)
    elif any(_DAILY.get(name, ("",))[0] == "date" for name in names):
        layout = _daily(header, names)
    if layout is not None:
        layout.header = list(header)
        return layout
    shown = ", ".join(name.strip() for name in header if name.strip())[:200]
    raise LayoutProblem(
        "the header is not one Storydesk knows: expected the Meta Business Suite content "
        "export (with `Post ID` or `Beitrags-ID`), Meta's daily figures (`Date`, `Primary`) "
        "or a daily account file (with `date` or `Datum` and accounts_reached, "
        "non_followers_reached, views, impressions, followers or new_followers); "
        f"its columns are: {shown or 'none'}"
    )


def _content(header: Sequence[str], names: list[str]) -> Layout:
    columns, languages, not_recognised, rates = _read_header(header, names, _CONTENT,
                                                             _CONTENT_UNUSED)
    if not any(name_field in columns for name_field in CONTENT_FIGURES):
        raise LayoutProblem("a content export needs at least one of the columns Views, "
                            "Impressions, Reach, Likes, Shares, Comments, Saves, Follows "
                            "(German: Aufrufe, Impressionen, Reichweite, …)")
    return Layout(CONTENT_KIND, columns, _language(languages), not_recognised, rates)


def _daily(header: Sequence[str], names: list[str]) -> Layout:
    columns, languages, not_recognised, rates = _read_header(header, names, _DAILY, {})
    if len(columns) == 1:
        raise LayoutProblem("a daily account file needs `date` and at least one of "
                            + ", ".join(DAILY_METRICS))
    return Layout(DAILY_KIND, columns, _language(languages), not_recognised, rates)


def _read_header(
    header: Sequence[str], names: list[str], known: dict[str, tuple[str, str | None]],
    unused: dict[str, str | None],
) -> tuple[dict[str, int], list[str | None], list[str], list[str]]:
    """(field -> column index, each known column's language, the header names not
    recognised, the rate columns) of a header whose normalised names are `names`."""
    columns: dict[str, int] = {}
    languages: list[str | None] = []
    not_recognised: list[str] = []
    rates: list[str] = []
    for index, name in enumerate(names):
        if name in known:
            name_field, language = known[name]
            if name_field in columns:
                raise LayoutProblem(f"{header[columns[name_field]].strip()!r} and "
                                    f"{header[index].strip()!r} are the same column")
            columns[name_field] = index
            languages.append(language)
        elif name in unused:
            languages.append(unused[name])
        elif name in RATE_NAMES:
            rates.append(header[index].strip())
        elif name:
            not_recognised.append(header[index].strip())
    return columns, languages, not_recognised, rates


def _meta_daily(header: Sequence[str], names: list[str], title: str) -> Layout:
    language = GERMAN if "primär" in names or "datum" in names else ENGLISH
    columns = {"date": names.index("datum" if "datum" in names else "date"),
               "value": names.index("primär" if "primär" in names else "primary")}
    not_recognised = [header[i].strip() for i, name in enumerate(names)
                      if name and i not in columns.values()]
    figure = normalise(title)
    if not figure:
        raise LayoutProblem("Meta's daily figures need the figure's name on the line before "
                            "the header (such as \"Instagram reach\"); this file has none")
    if "facebook" in figure:
        raise LayoutProblem(f"{title!r} is a Facebook figure; Storydesk keeps Instagram's")
    for words, metric in META_FIGURES:
        if any(word in figure for word in words):
            return Layout(META_DAILY_KIND, columns, language, not_recognised, metric=metric,
                          title=title)
    raise LayoutProblem(f"{title!r} is not a figure Storydesk keeps (it keeps reach, views, "
                        "impressions and follows)")
