"""CloudWatch Logs' read calls over the container logs agents ship: DescribeLogGroups,
DescribeLogStreams, GetLogEvents and FilterLogEvents, shaped as botocore's model says.

Only `awslogs` containers have a log group and stream (see `operations.logs`). Positions in a
stream are (timestamp ns, event id) pairs, so paging is stable while new events arrive:
GetLogEvents' `nextForwardToken` is `f/<position of the last event>` and `nextBackwardToken`
`b/<position of the first>`; at the end of a stream the forward token comes back unchanged, which
is how clients know to stop, as on AWS. FilterLogEvents matches plain terms of the filter pattern
syntax (terms, "quoted phrases", ?or-terms, -exclusions); JSON, space-delimited and regex
patterns are refused by name.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from orchestrator.core.errors import InvalidParameterException, ResourceNotFoundException
from orchestrator.core.models import ACCOUNT, region
from orchestrator.operations.common import Context, opt_bool, opt_int, opt_list, opt_str
from orchestrator.operations.logs import LOG_GROUP_DOC, event_view

MAX_RESPONSE_BYTES = 1_048_576
# Each event counts its UTF-8 length plus 26 bytes towards the 1 MB response limit, as on AWS.
EVENT_OVERHEAD = 26
START, END = (0, 0), (2**63 - 1, 0)


def group_arn(name: str) -> str:
    return f"arn:aws:logs:{region()}:{ACCOUNT}:log-group:{name}"


def _position(token: str, direction: str) -> tuple[int, int]:
    ts, _, ident = token[2:].partition(":")
    if not token.startswith(f"{direction}/") or not ts.isdigit() or not ident.isdigit():
        raise InvalidParameterException("The specified nextToken is invalid; pass a token from the previous answer.")
    return int(ts), int(ident)


def _token(direction: str, position: tuple[int, int]) -> str:
    return f"{direction}/{position[0]}:{position[1]}"


def _ms(req: dict[str, Any], name: str) -> int | None:
    return opt_int(req, name, None, lo=0)


def _within_bytes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    total = 0
    for i, row in enumerate(rows):
        total += len(row["message"].encode()) + EVENT_OVERHEAD
        if total > MAX_RESPONSE_BYTES and i:
            return rows[:i]
    return rows


def matcher(pattern: str) -> Callable[[str], bool]:
    """The plain-term filter pattern as a predicate on messages (case-sensitive, as on AWS)."""
    text = pattern.strip()
    if not text:
        return lambda _m: True
    if text.startswith("{"):
        raise InvalidParameterException("filterPattern: JSON patterns ({ $.field ... }) are not supported; use terms.")
    if text.startswith("["):
        raise InvalidParameterException("filterPattern: space-delimited patterns ([w1, w2 ...]) are not supported.")
    if text.startswith("%"):
        raise InvalidParameterException("filterPattern: regular expressions (%...%) are not supported; use terms.")
    try:
        terms = shlex.split(text, posix=True)
    except ValueError as err:
        raise InvalidParameterException(f"filterPattern: {err}; close the quoted phrase.") from None
    either = [t[1:] for t in terms if t.startswith("?")]
    if either:
        if len(either) != len(terms):
            raise InvalidParameterException("filterPattern: ?terms (any of) cannot be mixed with other terms.")
        return lambda m: any(t in m for t in either)
    need = [t for t in terms if not t.startswith("-")]
    avoid = [t[1:] for t in terms if t.startswith("-") and len(t) > 1]
    return lambda m: all(t in m for t in need) and not any(t in m for t in avoid)


class CloudWatchLogsOps:
    ctx: Context

    def _group(self, req: dict[str, Any]) -> str:
        name, ident = opt_str(req, "logGroupName"), opt_str(req, "logGroupIdentifier")
        if name and ident:
            raise InvalidParameterException("Specify either logGroupName or logGroupIdentifier, not both.")
        name = name or ident or ""
        if name.startswith("arn:"):
            name = name.split(":log-group:", 1)[-1].removesuffix(":*")
        if not name:
            raise InvalidParameterException("logGroupName or logGroupIdentifier is required.")
        if self.ctx.store.get_doc(LOG_GROUP_DOC, name) is None:
            raise ResourceNotFoundException("The specified log group does not exist.")
        return name

    def describe_log_groups(self, req: dict[str, Any]) -> dict[str, Any]:
        if opt_list(req, "accountIdentifiers"):
            raise InvalidParameterException("accountIdentifiers: there are no linked accounts here; remove it.")
        prefix, pattern = opt_str(req, "logGroupNamePrefix"), opt_str(req, "logGroupNamePattern")
        if prefix and pattern:
            raise InvalidParameterException("logGroupNamePrefix and logGroupNamePattern cannot be used together.")
        wanted = {str(g).split(":log-group:", 1)[-1].removesuffix(":*") for g in opt_list(req, "logGroupIdentifiers")}
        limit = opt_int(req, "limit", 50, lo=1, hi=50) or 50
        klass = opt_str(req, "logGroupClass")
        opt_bool(req, "includeLinkedAccounts")  # no linked accounts: the answer is the same either way
        groups = []
        for name, doc in self.ctx.store.list_docs(LOG_GROUP_DOC, prefix or ""):
            if pattern and pattern.lower() not in name.lower():
                continue
            if wanted and name not in wanted:
                continue
            if klass not in (None, "STANDARD"):
                continue
            groups.append((name, doc))
        start = self._offset(req)
        page = groups[start : start + limit]
        out = [
            {
                "logGroupName": name,
                "creationTime": doc["creationTime"],
                "metricFilterCount": 0,
                "arn": group_arn(name) + ":*",
                "logGroupArn": group_arn(name),
                "storedBytes": self._stored_bytes(name),
                "logGroupClass": "STANDARD",
            }
            for name, doc in page
        ]
        result: dict[str, Any] = {"logGroups": out}
        if start + limit < len(groups):
            result["nextToken"] = str(start + limit)
        return result

    def _stored_bytes(self, group: str) -> int:
        stats = self.ctx.store.log_source_stats(list(self.ctx.store.log_sources(log_group=group)))
        return sum(int(s["bytes"] or 0) for s in stats.values())

    @staticmethod
    def _offset(req: dict[str, Any]) -> int:
        token = opt_str(req, "nextToken")
        if not token:
            return 0
        if not token.isdigit():
            raise InvalidParameterException("The specified nextToken is invalid; pass the previous answer's nextToken.")
        return int(token)

    def describe_log_streams(self, req: dict[str, Any]) -> dict[str, Any]:
        group = self._group(req)
        prefix = opt_str(req, "logStreamNamePrefix")
        order = opt_str(req, "orderBy", "LogStreamName")
        if order not in ("LogStreamName", "LastEventTime"):
            raise InvalidParameterException("orderBy must be LogStreamName or LastEventTime.")
        if prefix and order == "LastEventTime":
            raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        descending = opt_bool(req, "descending")
        limit = opt_int(req, "limit", 50, lo=1, hi=50) or 50
        store = self.ctx.store
        with store.read():
            sources = store.log_sources(log_group=group)
            stats = store.log_source_stats(list(sources))
        streams = []
        for ident, source in sources.items():
            name = source["logStreamName"]
            if prefix and not name.startswith(prefix):
                continue
            stat = stats.get(ident, {})
            streams.append({"logStreamName": name, "createdAt": source["createdAt"], **stat})
        streams.sort(key=lambda s: s["logStreamName"])
        if order == "LastEventTime":
            streams.sort(key=lambda s: (s.get("lastNs") or 0, s["logStreamName"]))
        if descending:
            streams.reverse()
        start = self._offset(req)
        page = streams[start : start + limit]
        out = []
        for s in page:
            item: dict[str, Any] = {
                "logStreamName": s["logStreamName"],
                "creationTime": int(s["createdAt"] * 1000),
                "uploadSequenceToken": "1",
                "arn": f"{group_arn(group)}:log-stream:{s['logStreamName']}",
                "storedBytes": 0,  # deprecated by AWS, which reports 0 too
            }
            if s.get("lastNs") is not None:  # a stream whose events retention dropped has no times
                item["firstEventTimestamp"] = s["firstNs"] // 1_000_000
                item["lastEventTimestamp"] = s["lastNs"] // 1_000_000
                item["lastIngestionTime"] = int(s["lastIngested"] * 1000)
            out.append(item)
        result: dict[str, Any] = {"logStreams": out}
        if start + limit < len(streams):
            result["nextToken"] = str(start + limit)
        return result

    def get_log_events(self, req: dict[str, Any]) -> dict[str, Any]:
        group = self._group(req)
        stream = opt_str(req, "logStreamName")
        if not stream:
            raise InvalidParameterException("logStreamName is required.")
        opt_bool(req, "unmask")  # nothing is masked here, so events are always unmasked
        start_ms, end_ms = _ms(req, "startTime"), _ms(req, "endTime")
        limit = opt_int(req, "limit", 10_000, lo=1, hi=10_000) or 10_000
        from_head = opt_bool(req, "startFromHead")
        token = opt_str(req, "nextToken")
        store = self.ctx.store
        where = list(store.log_sources(log_group=group, log_stream=stream))
        if not where:
            raise ResourceNotFoundException("The specified log stream does not exist.")
        bounds: dict[str, Any] = {
            "from_ns": start_ms * 1_000_000 if start_ms is not None else None,
            "until_ns": end_ms * 1_000_000 if end_ms is not None else None,
        }
        if token and token.startswith("f/"):
            forward, at = True, _position(token, "f")
        elif token:
            forward, at = False, _position(token, "b")
        else:
            forward, at = from_head, (START if from_head else END)
        if forward:
            rows = _within_bytes(store.list_log_events(where, after_key=at, limit=limit, **bounds))
        else:
            rows = store.list_log_events(where, before_key=at, newest=True, limit=limit, **bounds)
            rows = _within_bytes(rows[::-1])[::-1]
        first = (rows[0]["tsNs"], rows[0]["id"]) if rows else at
        last = (rows[-1]["tsNs"], rows[-1]["id"]) if rows else at
        if not rows and not forward:
            # Nothing before: going forward again starts at the head.
            last = at if token else START
        if not rows and forward and not token:
            first = START
        return {
            "events": [event_view(r, {}, cloudwatch=True) for r in rows],
            "nextForwardToken": _token("f", last),
            "nextBackwardToken": _token("b", first),
        }

    def filter_log_events(self, req: dict[str, Any]) -> dict[str, Any]:
        group = self._group(req)
        names = opt_list(req, "logStreamNames")
        prefix = opt_str(req, "logStreamNamePrefix")
        if names and prefix:
            raise InvalidParameterException("logStreamNames and logStreamNamePrefix cannot be used together.")
        if len(names) > 100 or not all(isinstance(n, str) for n in names):
            raise InvalidParameterException("logStreamNames must be at most 100 stream names.")
        opt_bool(req, "unmask")
        opt_bool(req, "interleaved", True)  # deprecated by AWS: events are always interleaved
        from_head = opt_bool(req, "startFromHead", True)
        if not from_head:
            raise InvalidParameterException("startFromHead false is not supported: events are returned oldest first.")
        start_ms, end_ms = _ms(req, "startTime"), _ms(req, "endTime")
        limit = opt_int(req, "limit", 10_000, lo=1, hi=10_000) or 10_000
        match = matcher(opt_str(req, "filterPattern") or "")
        token = opt_str(req, "nextToken")
        at = _position(token, "n") if token else START
        sources = {
            ident: source
            for ident, source in self.ctx.store.log_sources(log_group=group).items()
            if (not names or source["logStreamName"] in names)
            and (not prefix or source["logStreamName"].startswith(prefix))
        }
        found: list[dict[str, Any]] = []
        size, more = 0, False
        while True:
            rows = self.ctx.store.list_log_events(
                list(sources),
                after_key=at,
                from_ns=start_ms * 1_000_000 if start_ms is not None else None,
                until_ns=end_ms * 1_000_000 if end_ms is not None else None,
                limit=limit,
            )
            for row in rows:
                if match(row["message"]):
                    size += len(row["message"].encode()) + EVENT_OVERHEAD
                    if size > MAX_RESPONSE_BYTES and found:
                        more = True  # this one starts the next page
                        break
                    found.append(row)
                at = (row["tsNs"], row["id"])
                if len(found) == limit:
                    more = True
                    break
            if more or len(rows) < limit:
                break
        events = [
            {
                "logStreamName": sources[r["source"]]["logStreamName"],
                "timestamp": r["tsNs"] // 1_000_000,
                "message": r["message"],
                "ingestionTime": int(r["ingestedAt"] * 1000),
                "eventId": str(r["id"]),
            }
            for r in found
        ]
        result: dict[str, Any] = {"events": events, "searchedLogStreams": []}
        if more:
            result["nextToken"] = _token("n", at)
        return result
