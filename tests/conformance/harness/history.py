"""ExpectedExecutionHistory matching (README "History matching rules").

1. Expected entries are compared with the actual event of the same EventId; unlisted actual events are ignored.
2. Only listed keys are checked; each must exist in the actual mapping. Lists: equal length, element by element.
3. `{}` and `'*'` accept any value (the key must still exist).
4. `${NAME}` as a whole value binds on first use and must be equal afterwards.
5. `${/regex/}` as a whole value: regex search over str(actual).
6. Anything else is a literal: bound `${NAME}`s inside strings are substituted, then the value must be equal,
   JSON type included.
"""
from __future__ import annotations

import re
from typing import Any

from .values import json_equal, placeholder_of, regex_of, show, substitute_string, type_name


def event_label(eid: Any, event_type: Any) -> str:
    return f"EventId {eid} ({event_type})" if event_type else f"EventId {eid}"


def index_events(actual_events: list[dict]) -> dict[Any, dict]:
    by_id: dict[Any, dict] = {}
    for ev in actual_events:
        if isinstance(ev, dict) and "EventId" in ev:
            by_id[ev["EventId"]] = ev
    return by_id


def match_value(expected: Any, actual: Any, path: str, bindings: dict[str, Any], errors: list[str]) -> None:
    """Match one expected YAML value against an actual value, appending one message per mismatch."""
    # Rule 3: {} and '*' accept anything.
    if isinstance(expected, dict) and not expected:
        return
    if isinstance(expected, str) and expected == "*":
        return
    # Rule 5: ${/regex/}.
    pattern = regex_of(expected)
    if pattern is not None:
        try:
            found = re.search(pattern, str(actual))
        except re.error as e:
            errors.append(f"{path}: bad regex {pattern!r} in the requirement: {e}")
            return
        if not found:
            errors.append(f"{path}: {show(actual)} does not match regex /{pattern}/")
        return
    # Rule 4: ${NAME}.
    name = placeholder_of(expected)
    if name is not None:
        if name in bindings:
            if not json_equal(bindings[name], actual):
                errors.append(f"{path}: ${{{name}}} is bound to {show(bindings[name])}, got {show(actual)}")
        else:
            bindings[name] = actual
        return
    # Rule 2: mappings, then lists.
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            errors.append(f"{path}: expected a mapping with keys {list(expected)}, got {type_name(actual)} {show(actual)}")
            return
        for key, sub in expected.items():
            sub_path = f"{path}.{key}" if path else str(key)
            if key not in actual:
                errors.append(f"{sub_path}: key missing (actual keys: {', '.join(map(str, actual)) or 'none'})")
                continue
            match_value(sub, actual[key], sub_path, bindings, errors)
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            errors.append(f"{path}: expected a list of {len(expected)}, got {type_name(actual)} {show(actual)}")
            return
        if len(expected) != len(actual):
            errors.append(f"{path}: expected a list of {len(expected)}, got {len(actual)}: {show(actual)}")
            return
        for i, (e, a) in enumerate(zip(expected, actual)):
            match_value(e, a, f"{path}[{i}]", bindings, errors)
        return
    # Rule 6: literal after substitution of bound names.
    want = substitute_string(expected, bindings) if isinstance(expected, str) else expected
    if not json_equal(want, actual):
        if type_name(want) != type_name(actual):
            errors.append(f"{path}: expected {type_name(want)} {show(want)}, got {type_name(actual)} {show(actual)}")
        else:
            errors.append(f"{path}: expected {show(want)}, got {show(actual)}")


def match_history(expected_events: Any, actual_events: list[dict], bindings: dict[str, Any]) -> list[str]:
    """Match the whole expected history. Binds placeholders into `bindings` (in list order) and returns the
    mismatches, one line each, naming the EventId, the key path, expected and actual."""
    errors: list[str] = []
    if not isinstance(expected_events, list) or not expected_events:
        return ["ExpectedExecutionHistory is missing or empty (it is required)"]
    by_id = index_events(actual_events)
    last = actual_events[-1] if actual_events else None
    for i, expected in enumerate(expected_events):
        if not isinstance(expected, dict):
            errors.append(f"ExpectedExecutionHistory[{i}] is not a mapping: {show(expected)}")
            continue
        if "EventId" not in expected:
            errors.append(f"ExpectedExecutionHistory[{i}] ({expected.get('EventType')}) has no EventId")
            continue
        eid = expected["EventId"]
        label = event_label(eid, expected.get("EventType"))
        actual = by_id.get(eid)
        if actual is None:
            have = (f"the history has {len(actual_events)} events, the last is "
                    f"{event_label(last.get('EventId'), last.get('EventType'))}") if last else "the history is empty"
            errors.append(f"{label}: no such event ({have})")
            continue
        match_value(expected, actual, label, bindings, errors)
    return errors


def try_match_history(expected_events: Any, actual_events: list[dict], bindings: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Match on a copy of the bindings; returns (errors, bindings after the match). The caller commits the new
    bindings only when it wants to (history-only polling tries a match after every poll)."""
    trial = dict(bindings)
    errors = match_history(expected_events, actual_events, trial)
    return errors, trial
