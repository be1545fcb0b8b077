"""ExpectedResult checking (README "ExpectedResult") against a GetDurableExecution response."""
from __future__ import annotations

import json
from typing import Any

from .values import json_equal, show, substitute, type_name

def decode_once(raw: Any) -> Any:
    """The stored Result text decoded once with a JSON parser; the raw value when that fails."""
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def check_result(expected_result: Any, execution: dict, bindings: dict[str, Any]) -> list[str]:
    """Status must equal `Status` exactly. `Result` is checked only when the actual status is SUCCEEDED and the
    key is present: the stored text decoded once must equal the expected value after substitution."""
    if expected_result is None:
        return []
    if not isinstance(expected_result, dict):
        return [f"ExpectedResult must be a mapping, got {show(expected_result)}"]
    errors: list[str] = []
    actual_status = execution.get("Status")
    if "ExecutionStatus" in expected_result:
        want = substitute(expected_result["ExecutionStatus"], bindings)
        if want != actual_status:
            msg = f"ExecutionStatus: expected {show(want)}, got {show(actual_status)}"
            err = execution.get("Error")
            if isinstance(err, dict) and err:
                msg += f" (Error: {show(err, 300)})"
            elif actual_status == "SUCCEEDED" and "Result" in execution:
                msg += f" (Result: {show(execution.get('Result'), 300)})"
            errors.append(msg)
            return errors
    if actual_status != "SUCCEEDED" or "Result" not in expected_result:
        return errors
    want = substitute(expected_result["Result"], bindings)
    raw = execution.get("Result")
    got = decode_once(raw)
    if not json_equal(want, got):
        if type_name(want) != type_name(got):
            errors.append(f"Result: expected {type_name(want)} {show(want)}, got {type_name(got)} {show(got)} "
                          f"(stored text {show(raw)})")
        else:
            errors.append(f"Result: expected {show(want)}, got {show(got)} (stored text {show(raw)})")
    return errors
