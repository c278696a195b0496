"""A local stand-in for the Instagram Graph API, answering in Meta's shapes.

It serves `/{version}/{user}/insights` (time series with `values`/`end_time`, totals with
`total_value` and `breakdowns`), `/{version}/{user}?fields=followers_count`,
`/{version}/{user}/media` (paged through `paging.next`) and
`/{version}/{media}/insights`. Faults are queued per path: a 429 with Retry-After, a
transient error, or error 190 for an expired token. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from tests.fake_http import FakeHTTPServer

VERSION = "v23.0"
USER = "17841400000000001"
TOKEN = "EAAtest-token"


def end_time(day: date) -> str:
    """Meta stamps a day's value with the next day's start in Pacific time."""
    return f"{day + timedelta(days=1):%Y-%m-%d}T08:00:00+0000"


def day_from_unix(raw: str) -> date:
    return datetime.fromtimestamp(int(raw), tz=UTC).date()


@dataclass
class Fault:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def graph_error(code: int, message: str, *, subcode: int | None = None,
                kind: str = "OAuthException") -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code,
                             "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


EXPIRED = Fault(400, graph_error(
    190, "Error validating access token: Session has expired on Friday, 20-Nov-26 "
    "09:00:00 PST.", subcode=463))
RATE_LIMITED = Fault(429, graph_error(4, "(#4) Application request limit reached",
                                      kind="OAuthException"), {"Retry-After": "0"})
TEMPORARY = Fault(500, graph_error(2, "An unexpected error has occurred. Please retry your "
                                      "request later.") | {"is_transient": True})


@dataclass
class Account:
    """The figures the fake account has; a day absent from `reach` is a missing day."""

    reach: dict[date, int] = field(default_factory=dict)
    non_followers: dict[date, int] = field(default_factory=dict)
    views: dict[date, int] = field(default_factory=dict)
    new_followers: dict[date, int] = field(default_factory=dict)
    weekly_reach: dict[date, tuple[int, int]] = field(default_factory=dict)  # Monday: (all, non)
    followers_count: int = 0
    demographics: dict[str, dict[str, int]] = field(default_factory=dict)
    media: list[dict[str, Any]] = field(default_factory=list)  # newest first
    media_insights: dict[str, dict[str, int]] = field(default_factory=dict)
    unsupported: dict[str, set[str]] = field(default_factory=dict)  # media id: metrics


class GraphServer:
    def __init__(self, account: Account, page_size: int = 2) -> None:
        self.account = account
        self.page_size = page_size
        self.faults: dict[str, list[Fault]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body, headers = server.answer(self.path)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_args: Any) -> None:
                return

        self.httpd = FakeHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> GraphServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, path_end: str, *faults: Fault) -> None:
        """Answer the next requests whose path ends with `path_end` with these faults."""
        self.faults.setdefault(path_end, []).extend(faults)

    def calls(self, path_end: str) -> list[dict[str, str]]:
        return [query for path, query in self.requests if path.endswith(path_end)]

    # --- routing -------------------------------------------------------------------------

    def answer(self, raw_path: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        parsed = urlparse(raw_path)
        query = {key: values[-1] for key, values in parse_qs(parsed.query).items()}
        path = parsed.path
        with self.lock:
            self.requests.append((path, query))
            for suffix, queued in self.faults.items():
                if path.endswith(suffix) and queued:
                    fault = queued.pop(0)
                    return fault.status, fault.body, fault.headers
        if query.get("access_token") != TOKEN:
            return 400, graph_error(190, "Invalid OAuth access token - Cannot parse access "
                                         "token"), {}
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != VERSION:
            return 404, graph_error(803, "Unknown path components"), {}
        node, edge = parts[1], parts[2] if len(parts) > 2 else None
        if node == USER and edge == "insights":
            return 200, self.account_insights(query), {}
        if node == USER and edge is None:
            return 200, {"followers_count": self.account.followers_count, "id": USER}, {}
        if node == USER and edge == "media":
            return 200, self.media_page(query), {}
        if edge == "insights" and node in self.account.media_insights:
            return self.media_insights(node, query)
        return 400, graph_error(100, "Unsupported get request."), {}

    def _paging(self, query: dict[str, str], since: date, until: date) -> dict[str, Any]:
        span = until - since
        later = {**query, "since": str(int(datetime.combine(until, datetime.min.time(),
                                                               UTC).timestamp())),
                 "until": str(int(datetime.combine(until + span, datetime.min.time(),
                                                   UTC).timestamp()))}
        return {"previous": f"{self.url}/{VERSION}/{USER}/insights?{urlencode(query)}",
                "next": f"{self.url}/{VERSION}/{USER}/insights?{urlencode(later)}"}

    def account_insights(self, query: dict[str, str]) -> dict[str, Any]:
        metric = query.get("metric", "")
        if metric == "follower_demographics":
            breakdown = query["breakdown"]
            values = self.account.demographics.get(breakdown, {})
            return {"data": [{
                "name": metric, "period": "lifetime", "title": "Follower demographics",
                "description": "The demographic characteristics of followers.",
                "total_value": {"breakdowns": [{
                    "dimension_keys": [breakdown],
                    "results": [{"dimension_values": [key], "value": value}
                                for key, value in values.items()],
                }]},
                "id": f"{USER}/insights/{metric}/lifetime",
            }]}
        since, until = day_from_unix(query["since"]), day_from_unix(query["until"])
        days = list(_days(since, until))
        if query.get("metric_type") == "total_value":
            # No data for the window: Meta answers with an empty data set, not with zero.
            total = self.total(metric, since, until, days, query)
            return {"data": [total] if total else [],
                    "paging": self._paging(query, since, until)}
        series = {"reach": self.account.reach, "follower_count": self.account.new_followers}
        values = [{"value": series[metric][day], "end_time": end_time(day)}
                  for day in days if day in series[metric]]
        return {"data": [{"name": metric, "period": "day", "values": values,
                          "title": metric, "description": "", "id":
                          f"{USER}/insights/{metric}/day"}],
                "paging": self._paging(query, since, until)}

    def total(self, metric: str, since: date, until: date, days: list[date],
              query: dict[str, str]) -> dict[str, Any] | None:
        item: dict[str, Any] = {"name": metric, "period": "day", "title": metric,
                                "description": "", "id": f"{USER}/insights/{metric}/day"}
        if metric == "views":
            known = [self.account.views[d] for d in days if d in self.account.views]
            if not known:
                return None
            item["total_value"] = {"value": sum(known)}
            return item
        if len(days) == 7 and since in self.account.weekly_reach:
            total, non = self.account.weekly_reach[since]
        else:
            known = [d for d in days if d in self.account.reach]
            if not known:
                return None
            total = sum(self.account.reach[d] for d in known)
            non = sum(self.account.non_followers.get(d, 0) for d in known)
        value: dict[str, Any] = {"value": total}
        if query.get("breakdown") == "follow_type":
            value["breakdowns"] = [{"dimension_keys": ["follow_type"], "results": [
                {"dimension_values": ["FOLLOWER"], "value": total - non},
                {"dimension_values": ["NON_FOLLOWER"], "value": non},
            ]}]
        item["total_value"] = value
        return item

    def media_page(self, query: dict[str, str]) -> dict[str, Any]:
        start = int(query.get("after", "0"))
        size = min(int(query.get("limit", "25")), self.page_size)
        items = self.account.media[start:start + size]
        fields = query.get("fields", "id").split(",")
        data = [{key: item[key] for key in fields if key in item} for item in items]
        page: dict[str, Any] = {"data": data, "paging": {"cursors": {
            "before": str(start), "after": str(start + len(items))}}}
        if start + size < len(self.account.media):
            following = {**query, "after": str(start + size)}
            page["paging"]["next"] = f"{self.url}/{VERSION}/{USER}/media?{urlencode(following)}"
        return page

    def media_insights(self, media_id: str, query: dict[str, str]
                       ) -> tuple[int, dict[str, Any], dict[str, str]]:
        metrics = query.get("metric", "").split(",")
        refused = self.account.unsupported.get(media_id, set())
        bad = [m for m in metrics if m in refused]
        if bad:
            return 400, graph_error(100, f"(#100) The Media Insights API does not support the "
                                         f"{bad[0]} metric for this media product type.",
                                    kind="OAuthException"), {}
        figures = self.account.media_insights[media_id]
        return 200, {"data": [
            {"name": m, "period": "lifetime", "values": [{"value": figures[m]}], "title": m,
             "description": "", "id": f"{media_id}/insights/{m}/lifetime"}
            for m in metrics if m in figures
        ]}, {}


def _days(since: date, until: date) -> Iterator[date]:
    day = since
    while day < until:
        yield day
        day += timedelta(days=1)
