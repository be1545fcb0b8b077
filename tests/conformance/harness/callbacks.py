"""CallbackActions (README "CallbackActions"): which action answers which CallbackStarted, and what is sent."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .values import regex_of, show, substitute

OPERATIONS = ("success", "failure", "heartbeat")
ERROR_KEYS = ("ErrorType", "ErrorMessage", "ErrorData", "StackTrace")
INHERITING_TYPES = ("CallbackStarted", "StepStarted", "StepSucceeded")


class ActionError(Exception):
    """A CallbackAction that cannot be carried out (the case fails)."""


@dataclass
class PendingCallback:
    callback_id: str
    name: str          # after inheritance from a WaitForCallback parent; "" when none
    event: dict


def effective_names(events: list[dict]) -> list[str]:
    """Each event's Name for callback matching: a nameless CallbackStarted, StepStarted or StepSucceeded whose
    parent is a WaitForCallback context inherits that parent's Name. "" when there is none."""
    wfc_names: dict[Any, str] = {}
    for ev in events:
        if ev.get("SubType") == "WaitForCallback" and "Id" in ev and ev.get("Name") is not None:
            wfc_names.setdefault(ev["Id"], ev["Name"])
    names = []
    for ev in events:
        name = ev.get("Name")
        if name is None and ev.get("EventType") in INHERITING_TYPES and ev.get("ParentId") in wfc_names:
            name = wfc_names[ev["ParentId"]]
        names.append("" if name is None else str(name))
    return names


def new_callbacks(events: list[dict], handled: set[str]) -> list[PendingCallback]:
    """CallbackStarted events whose CallbackId is not yet handled, in history order."""
    out: list[PendingCallback] = []
    seen: set[str] = set()
    for ev, name in zip(events, effective_names(events)):
        if ev.get("EventType") != "CallbackStarted":
            continue
        details = ev.get("CallbackStartedDetails")
        cid = details.get("CallbackId") if isinstance(details, dict) else None
        if not cid or cid in handled or cid in seen:
            continue
        seen.add(cid)
        out.append(PendingCallback(callback_id=str(cid), name=name, event=ev))
    return out


def name_matches(action_name: Any, event_name: str, bindings: dict[str, Any]) -> bool:
    """`'*'` matches any name, `${/regex/}` is a regex search, anything else must equal the event's Name after
    substitution."""
    want = substitute(action_name, bindings)
    if want == "*":
        return True
    pattern = regex_of(want)
    if pattern is not None:
        try:
            return re.search(pattern, event_name) is not None
        except re.error:
            return False
    return str(want) == event_name


def find_action(actions: list[dict], used: set[int], event_name: str, bindings: dict[str, Any]) -> int | None:
    """Index of the first unused action whose CallbackName matches, else None."""
    for i, action in enumerate(actions):
        if i in used:
            continue
        if name_matches(action.get("CallbackName"), event_name, bindings):
            return i
    return None


def validate_actions(actions: Any) -> list[dict]:
    if actions is None:
        return []
    if not isinstance(actions, list):
        raise ActionError(f"CallbackActions must be a list, got {show(actions)}")
    for i, a in enumerate(actions):
        if not isinstance(a, dict):
            raise ActionError(f"CallbackActions[{i}] is not a mapping: {show(a)}")
        if not a.get("CallbackName"):
            raise ActionError(f"CallbackActions[{i}] has no CallbackName")
        op = a.get("Operation")
        if not isinstance(op, str) or op.lower() not in OPERATIONS:
            raise ActionError(f"CallbackActions[{i}]: Operation must be one of {', '.join(OPERATIONS)}, got {show(op)}")
        try:
            float(a.get("Delay", 0) or 0)
        except (TypeError, ValueError):
            raise ActionError(f"CallbackActions[{i}]: Delay must be a number of seconds, got {show(a.get('Delay'))}")
    return actions


def operation(action: dict) -> str:
    return str(action["Operation"]).lower()


def delay_seconds(action: dict) -> float:
    return float(action.get("Delay", 0) or 0)


def consumes(action: dict) -> bool:
    """A success or failure answers the callback; a heartbeat leaves it open for a later action."""
    return operation(action) != "heartbeat"


def cli_args(action: dict, callback_id: str, bindings: dict[str, Any]) -> list[str]:
    """The `perdure callback ...` arguments for one action (after the global options).

    success: body = json.dumps(Payload) after substitution; no body when Payload is absent or null.
    failure: Payload must be a mapping; only ErrorType, ErrorMessage, ErrorData (and StackTrace) are sent.
    heartbeat: no body.
    """
    op = operation(action)
    payload = substitute(action.get("Payload"), bindings)
    if op == "success":
        args = ["callback", "succeed", callback_id]
        if payload is not None:
            args += ["--", json.dumps(payload)]
        return args
    if op == "failure":
        args = ["callback", "fail", callback_id]
        if payload is None:
            return args
        if not isinstance(payload, dict):
            raise ActionError(f"failure Payload must be a mapping of {'/'.join(ERROR_KEYS)}, got {show(payload)}")
        if "StackTrace" in payload:
            raise ActionError("failure Payload has StackTrace, which `perdure callback fail` cannot send "
                              "(it only has --type, --message, --data)")
        flags = {"ErrorType": "--type", "ErrorMessage": "--message", "ErrorData": "--data"}
        for key, flag in flags.items():
            if key in payload and payload[key] is not None:
                v = payload[key]
                args += [flag, v if isinstance(v, str) else json.dumps(v)]
        return args
    return ["callback", "heartbeat", callback_id]
