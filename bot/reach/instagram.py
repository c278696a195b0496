"""A small client for the Instagram Graph API (account and media insights), on httpx.

It knows the shapes Meta answers with: time series (`values` with `end_time`), totals
(`total_value`, with `breakdowns` of `dimension_values`), paging through `paging.next`,
and errors as `{"error": {"code": ..., "message": ...}}`. Rate limits and temporary
failures are retried with exponential back-off; an invalid or expired token (code 190)
raises `TokenInvalid` at once, since retrying cannot help.

Days: Instagram closes a day's figures at midnight Pacific time and stamps them with the
`end_time` of that day (07:00 or 08:00 UTC the next morning). A value whose end_time is
2026-11-17T08:00:00+0000 is the figure for 16 November.
"""

from __future__ import annotations

import logging
import random
import time as clock
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

log = logging.getLogger(__name__)

# Graph API error codes worth retrying: unknown/temporary errors and the rate limits.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80001, 80002})
TOKEN_INVALID = 190
MEDIA_METRICS = ("reach", "views", "likes", "comments", "shares", "saved",
                 "total_interactions")
MEDIA_FIELDS = "id,caption,media_type,media_product_type,permalink,timestamp"
MAX_RANGE_DAYS = 30  # the Graph API refuses longer since/until ranges for account insights


class GraphError(Exception):
    """The Graph API answered with an error that retrying will not fix."""

    def __init__(self, message: str, *, code: int | None = None, subcode: int | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.status = status


class TokenInvalid(GraphError):
    """Error 190: the access token expired, was revoked, or is not valid."""


class GraphUnavailable(GraphError):
    """Still failing after every retry (rate limit, server error, network)."""


@dataclass(frozen=True)
class FollowTypeReach:
    total: int | None
    followers: int | None
    non_followers: int | None


@dataclass(frozen=True)
class Media:
    media_id: str
    timestamp: datetime | None
    permalink: str | None
    media_type: str | None
    product_type: str | None
    caption: str


def day_of(end_time: str) -> date:
    """The day a daily value belongs to, from its `end_time` (the next day's start)."""
    stamp = datetime.strptime(end_time, "%Y-%m-%dT%H:%M:%S%z")
    return (stamp.astimezone(UTC) - timedelta(days=1)).date()


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def parse_timestamp(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z").astimezone(UTC)
    except ValueError:
        return None


class GraphClient:
    """Reads one Instagram professional account's insights.

    `base_url` is GRAPH_API_URL (a local server in tests), `version` GRAPH_API_VERSION.
    `sleep` is injectable so that tests of the back-off need not wait.
    """

    def __init__(
        self,
        base_url: str,
        version: str,
        token: str,
        user_id: str,
        *,
        timeout: float = 20.0,
        attempts: int = 5,
        backoff: float = 2.0,
        max_wait: float = 120.0,
        sleep: Callable[[float], None] = clock.sleep,
        http: httpx.Client | None = None,
    ) -> None:
        self.base = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self.token = token
        self.user_id = user_id
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.sleep = sleep
        self.http = http or httpx.Client(timeout=timeout)
        self.requests = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET a Graph path (or a full `paging.next` URL), retrying what may pass."""
        query: dict[str, Any] | None
        if path_or_url.startswith("http"):
            # A `paging.next` URL carries its whole query, token included; passing any
            # params, even empty ones, would make httpx replace that query.
            url, query = path_or_url, (dict(params) if params else None)
        else:
            url = f"{self.base}/{path_or_url.lstrip('/')}"
            query = {**(params or {}), "access_token": self.token}
        last = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            wait: float | None = None
            try:
                self.requests += 1
                response = self.http.get(url, params=query)
            except httpx.TransportError as failure:
                last = f"network error: {failure.__class__.__name__}"
            else:
                body = _json(response)
                problem = body.get("error") if isinstance(body, dict) else None
                if response.status_code == 200 and not problem:
                    return body
                code, message, transient = _describe(response, problem)
                if code == TOKEN_INVALID:
                    raise TokenInvalid(message, code=code, subcode=_subcode(problem),
                                       status=response.status_code)
                if not transient:
                    raise GraphError(message, code=code, subcode=_subcode(problem),
                                     status=response.status_code)
                last = f"{response.status_code} {message}"
                wait = _retry_after(response)
            if attempt == self.attempts:
                break
            delay = wait if wait is not None else self.backoff * 2 ** (attempt - 1)
            delay = min(self.max_wait, delay) + random.uniform(0, self.backoff / 4)
            log.info("Graph API: %s; retrying in %.1f s (attempt %d of %d)", last, delay,
                     attempt, self.attempts)
            self.sleep(delay)
        raise GraphUnavailable(f"Graph API still failing after {self.attempts} attempts: {last}")

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of a listing, following `paging.next` to the end."""
        page = self.get(path, params)
        while True:
            yield page
            following = (page.get("paging") or {}).get("next")
            if not following or not page.get("data"):
                return
            page = self.get(following)

    # --- account insights --------------------------------------------------------------

    def _insights(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The metric objects for one since/until window.

        Insights answers carry `paging.next` too, but it points at the following time
        window, not at more of this one; the caller asks for each window itself.
        """
        data = self.get(f"{self.user_id}/insights", params).get("data")
        return [item for item in data or [] if isinstance(item, dict)]

    def daily_series(self, metric: str, since: date, until: date) -> dict[date, int]:
        """A daily time series (`reach`, `follower_count`) for days since..until-1.

        The range is cut into the 30-day pieces the API accepts. A day the API leaves out
        is simply absent from the result: unknown, not zero.
        """
        values: dict[date, int] = {}
        start = since
        while start < until:
            end = min(until, start + timedelta(days=MAX_RANGE_DAYS))
            for item in self._insights({"metric": metric, "period": "day",
                                        "since": _unix(start), "until": _unix(end)}):
                if item.get("name") != metric:
                    continue
                for point in item.get("values") or []:
                    value, end_time = point.get("value"), point.get("end_time")
                    if isinstance(value, int) and end_time:
                        day = day_of(end_time)
                        if since <= day < until:
                            values[day] = value
            start = end
        return values

    def total_value(self, metric: str, since: date, until: date,
                    breakdown: str | None = None) -> dict[str, Any] | None:
        """The `total_value` object of a metric over since..until-1, or None if absent."""
        params: dict[str, Any] = {"metric": metric, "period": "day",
                                  "metric_type": "total_value",
                                  "since": _unix(since), "until": _unix(until)}
        if breakdown:
            params["breakdown"] = breakdown
        for item in self._insights(params):
            if item.get("name") == metric and isinstance(item.get("total_value"), dict):
                total: dict[str, Any] = item["total_value"]
                return total
        return None

    def reach_by_follow_type(self, since: date, until: date) -> FollowTypeReach:
        """Accounts reached over since..until-1, split into followers and non-followers.

        Over a range longer than a day this is a deduplicated figure: an account reached on
        several days of the range counts once.
        """
        total = self.total_value("reach", since, until, breakdown="follow_type")
        if total is None:
            return FollowTypeReach(None, None, None)
        split = _breakdown(total, "follow_type")
        value = total.get("value")
        return FollowTypeReach(
            value if isinstance(value, int) else None,
            split.get("FOLLOWER"),
            split.get("NON_FOLLOWER"),
        )

    def views(self, since: date, until: date) -> int | None:
        total = self.total_value("views", since, until)
        value = total.get("value") if total else None
        return value if isinstance(value, int) else None

    def followers_count(self) -> int | None:
        body = self.get(self.user_id, {"fields": "followers_count"})
        value = body.get("followers_count")
        return value if isinstance(value, int) else None

    def demographics(self, breakdown: str, timeframe: str = "this_month") -> dict[str, int]:
        """Followers by `age`, `country` or `gender` (`follower_demographics`)."""
        params = {"metric": "follower_demographics", "period": "lifetime",
                  "metric_type": "total_value", "breakdown": breakdown,
                  "timeframe": timeframe}
        for item in self._insights(params):
            if item.get("name") == "follower_demographics":
                return _breakdown(item.get("total_value") or {}, breakdown)
        return {}

    # --- media -------------------------------------------------------------------------

    def media_since(self, since: datetime) -> list[Media]:
        """The account's media published at or after `since`, newest first.

        The listing is newest first, so paging stops at the first page that reaches back
        before `since`.
        """
        found: list[Media] = []
        for page in self.pages(f"{self.user_id}/media", {"fields": MEDIA_FIELDS, "limit": 50}):
            reached_older = False
            for item in page.get("data") or []:
                stamp = parse_timestamp(item.get("timestamp"))
                if stamp is not None and stamp < since:
                    reached_older = True
                    continue
                found.append(Media(
                    media_id=str(item.get("id")), timestamp=stamp,
                    permalink=item.get("permalink"), media_type=item.get("media_type"),
                    product_type=item.get("media_product_type"),
                    caption=str(item.get("caption") or ""),
                ))
            if reached_older:
                break
        return found

    def media_insights(self, media_id: str) -> dict[str, int]:
        """Lifetime figures of one post. Metrics a kind of media does not have (error 100)
        are asked one by one and the unsupported ones left out."""
        try:
            return _media_values(self.get(f"{media_id}/insights",
                                          {"metric": ",".join(MEDIA_METRICS)}))
        except TokenInvalid:
            raise
        except GraphError as error:
            if error.code != 100:
                raise
        values: dict[str, int] = {}
        for metric in MEDIA_METRICS:
            try:
                values.update(_media_values(self.get(f"{media_id}/insights",
                                                     {"metric": metric})))
            except TokenInvalid:
                raise
            except GraphError as error:
                if error.code != 100:
                    raise
        return values


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


def _subcode(error: Any) -> int | None:
    return error.get("error_subcode") if isinstance(error, dict) else None


def _describe(response: httpx.Response, error: Any) -> tuple[int | None, str, bool]:
    """(Graph error code, message, worth retrying) for a failed response."""
    code = error.get("code") if isinstance(error, dict) else None
    message = (error.get("message") if isinstance(error, dict) else None) or (
        f"HTTP {response.status_code}")
    transient = (
        response.status_code == 429
        or response.status_code >= 500
        or code in TRANSIENT_CODES
        or (isinstance(error, dict) and bool(error.get("is_transient")))
    )
    return code, str(message), transient


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


def _breakdown(total: Mapping[str, Any], dimension: str) -> dict[str, int]:
    """`{"breakdowns": [{"dimension_keys": [dim], "results": [...]}]}` -> {value: count}."""
    values: dict[str, int] = {}
    for breakdown in total.get("breakdowns") or []:
        keys = breakdown.get("dimension_keys") or []
        if dimension not in keys:
            continue
        position = keys.index(dimension)
        for result in breakdown.get("results") or []:
            dimension_values = result.get("dimension_values") or []
            value = result.get("value")
            if len(dimension_values) > position and isinstance(value, int):
                key = str(dimension_values[position])
                values[key] = values.get(key, 0) + value
    return values


def _media_values(body: Mapping[str, Any]) -> dict[str, int]:
    values: dict[str, int] = {}
    for item in body.get("data") or []:
        name = item.get("name")
        points = item.get("values") or []
        value = points[0].get("value") if points else None
        if value is None and isinstance(item.get("total_value"), dict):
            value = item["total_value"].get("value")
        if isinstance(name, str) and isinstance(value, int):
            values[name] = value
    return values
