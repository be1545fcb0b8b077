"""ExpectedLogs checking (README "ExpectedLogs").

Records come from the worker's combined stdout+stderr, one line each. A line that is a JSON object exposes its
top-level keys; any other line exposes only `message` (the stripped line). The records of an execution are those
whose top-level `durableExecutionArn` or `executionArn` equals its ARN, exactly as upstream scopes CloudWatch
lines (so a non-JSON line is never a record of an execution).

Order: records are sorted by (timestamp, ingestion order). Locally the ingestion order is the line's position in
the log file and the timestamp is the record's own `timestamp` field (ISO-8601 text or epoch seconds or
milliseconds); a line without a readable timestamp takes the previous line's, so it keeps its place in the file.
Two records only compare equal ("concurrent") when their sort keys are equal.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .values import show, substitute


@dataclass
class Record:
    fields: dict[str, Any]
    seq: int                      # ingestion order: line number in the log
    ts: float                     # sort timestamp (epoch seconds)
    line: str = field(repr=False, default="")

    @property
    def key(self) -> tuple[float, int]:
        return (self.ts, self.seq)


def parse_timestamp(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        if v > 1e17:   # nanoseconds
            return v / 1e9
        if v > 1e14:   # microseconds
            return v / 1e6
        if v > 1e11:   # milliseconds
            return v / 1e3
        return v
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return parse_timestamp(float(text))
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    return None


def parse_lines(lines: list[str]) -> list[Record]:
    """Every line of the log as a record (execution scoping is separate)."""
    records: list[Record] = []
    last_ts = 0.0
    for seq, raw in enumerate(lines):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields: dict[str, Any] | None = None
        text = line.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                fields = obj
        if fields is None:
            fields = {"message": text}
            ts = None
        else:
            ts = parse_timestamp(fields.get("timestamp"))
        if ts is None:
            ts = last_ts
        last_ts = ts
        records.append(Record(fields=fields, seq=seq, ts=ts, line=line))
    return records


def execution_records(records: list[Record], arn: str) -> list[Record]:
    """The records of one execution, sorted by (timestamp, ingestion order)."""
    mine = [r for r in records
            if r.fields.get("durableExecutionArn") == arn or r.fields.get("executionArn") == arn]
    return sorted(mine, key=lambda r: r.key)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def field_matches(expected: Any, actual: Any) -> bool:
    """One `match` field: a `/…/` string is a regex search; another string is compared exactly after stripping
    both sides; a boolean matches only the identical boolean; numbers compare numerically; anything else
    compares as strings."""
    if isinstance(expected, str):
        if len(expected) >= 2 and expected.startswith("/") and expected.endswith("/"):
            try:
                return re.search(expected[1:-1], str(actual)) is not None
            except re.error:
                return False
        return str(actual).strip() == expected.strip()
    if isinstance(expected, bool):
        return isinstance(actual, bool) and actual is expected
    if _is_number(expected):
        if _is_number(actual):
            return float(actual) == float(expected)
        if isinstance(actual, str):
            try:
                return float(actual.strip()) == float(expected)
            except ValueError:
                return False
        return False
    return str(actual) == str(expected)


def record_matches(matcher: dict, record: Record) -> bool:
    return all(k in record.fields and field_matches(v, record.fields[k]) for k, v in matcher.items())


def _anchors(value: Any) -> list[Any]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for a in items:
        # Accept `{match: {...}}` as well as a bare matcher.
        if isinstance(a, dict) and set(a) == {"match"} and isinstance(a["match"], dict):
            a = a["match"]
        out.append(a)
    return out


def _fmt_matcher(m: Any) -> str:
    return show(m, 160)


def _fmt_record(r: Record) -> str:
    return f"line {r.seq + 1}: {show(r.fields, 200)}"


def check_logs(expected_logs: Any, records: list[Record], bindings: dict[str, Any]) -> list[str]:
    """Check ExpectedLogs against one execution's sorted records. Returns one message per problem."""
    if expected_logs is None:
        return []
    if not isinstance(expected_logs, list):
        return [f"ExpectedLogs must be a list, got {show(expected_logs)}"]
    errors: list[str] = []
    for i, raw in enumerate(expected_logs):
        entry = substitute(raw, bindings)
        label = f"ExpectedLogs[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("match"), dict) or not entry["match"]:
            errors.append(f"{label}: needs a non-empty `match` mapping, got {show(entry)}")
            continue
        matcher = entry["match"]
        label = f"{label} {_fmt_matcher(matcher)}"
        own = [r for r in records if record_matches(matcher, r)]
        n = len(own)

        # Cardinality over all of the execution's records.
        count, lo, hi = entry.get("count"), entry.get("min_count"), entry.get("max_count")
        if count is not None:
            if n != count:
                errors.append(f"{label}: expected exactly {count} matching record(s), got {n} "
                              f"(of {len(records)} records of this execution)")
        elif lo is None and hi is None:
            if n < 1:
                errors.append(f"{label}: expected at least 1 matching record, got 0 "
                              f"(of {len(records)} records of this execution)")
        else:
            if lo is not None and n < lo:
                errors.append(f"{label}: expected at least {lo} matching record(s), got {n} "
                              f"(of {len(records)} records of this execution)")
            if hi is not None and n > hi:
                errors.append(f"{label}: expected at most {hi} matching record(s), got {n}")

        # Ordering against anchors.
        for direction in ("after", "before"):
            for anchor in _anchors(entry.get(direction)):
                if not isinstance(anchor, dict) or not anchor:
                    errors.append(f"{label}: `{direction}` anchor must be a non-empty mapping, got {show(anchor)}")
                    continue
                hits = [r for r in records if record_matches(anchor, r)]
                if not hits:
                    errors.append(f"{label}: `{direction}` anchor {_fmt_matcher(anchor)} matches no record")
                    continue
                if not own:
                    continue  # the count check reports it
                if direction == "after":
                    bound = max(hits, key=lambda r: r.key)
                    bad = [r for r in own if r.key < bound.key]
                    if bad:
                        errors.append(f"{label}: {len(bad)} match(es) sit before the last match of `after` anchor "
                                      f"{_fmt_matcher(anchor)}: first offender {_fmt_record(bad[0])}; "
                                      f"anchor {_fmt_record(bound)}")
                else:
                    bound = min(hits, key=lambda r: r.key)
                    bad = [r for r in own if r.key > bound.key]
                    if bad:
                        errors.append(f"{label}: {len(bad)} match(es) sit after the first match of `before` anchor "
                                      f"{_fmt_matcher(anchor)}: first offender {_fmt_record(bad[0])}; "
                                      f"anchor {_fmt_record(bound)}")
    return errors
