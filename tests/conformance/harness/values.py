"""Bindings and values shared by every matching stage.

A case has one binding table (README rule 8): names from `Variables` are bound first; history matching
binds `${NAME}` placeholders on first use; result and log checks substitute what is bound.
"""
from __future__ import annotations

import copy
import json
import random
import re
import string
from typing import Any

# `${/regex/}` as a whole value (checked before the placeholder form: a regex may contain braces).
REGEX_VALUE = re.compile(r"^\$\{/(.*)/\}$", re.S)
# `${NAME}` as a whole value.
PLACEHOLDER_VALUE = re.compile(r"^\$\{([^{}]+)\}$")
# `${NAME}` inside a longer string.
EMBEDDED = re.compile(r"\$\{([^{}]+)\}")
# `${GEN_STR:N}` in Variables.
GEN_STR = re.compile(r"^\$\{GEN_STR:(\d+)\}$")

GEN_ALPHABET = string.ascii_lowercase + string.digits
_sysrandom = random.SystemRandom()


def regex_of(value: Any) -> str | None:
    """The pattern of a `${/regex/}` value, else None."""
    if isinstance(value, str):
        m = REGEX_VALUE.match(value)
        if m:
            return m.group(1)
    return None


def placeholder_of(value: Any) -> str | None:
    """The NAME of a whole-value `${NAME}` (not a regex), else None."""
    if isinstance(value, str) and regex_of(value) is None:
        m = PLACEHOLDER_VALUE.match(value)
        if m:
            return m.group(1)
    return None


def gen_str(n: int, rng: random.Random | None = None) -> str:
    r = rng or _sysrandom
    return "".join(r.choice(GEN_ALPHABET) for _ in range(n))


def bind_variables(variables: Any, rng: random.Random | None = None) -> dict[str, Any]:
    """Bind a requirement's `Variables` map. `${GEN_STR:N}` makes a fresh [a-z0-9]{N} string; any other
    value is bound literally, non-strings through str()."""
    bindings: dict[str, Any] = {}
    if variables is None:
        return bindings
    if not isinstance(variables, dict):
        raise ValueError(f"Variables must be a mapping, got {type(variables).__name__}")
    for name, value in variables.items():
        if isinstance(value, str):
            m = GEN_STR.match(value)
            bindings[str(name)] = gen_str(int(m.group(1)), rng) if m else value
        else:
            bindings[str(name)] = str(value)
    return bindings


def _embedded_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def substitute_string(text: str, bindings: dict[str, Any]) -> str:
    """Replace `${NAME}` occurrences of bound names inside a string; unbound ones stay as written."""

    def repl(m: re.Match) -> str:
        name = m.group(1)
        return _embedded_text(bindings[name]) if name in bindings else m.group(0)

    return EMBEDDED.sub(repl, text)


def substitute(value: Any, bindings: dict[str, Any]) -> Any:
    """Substitute bound names throughout a YAML value. A whole-value `${NAME}` that is bound becomes the bound
    value itself (any type); inside longer strings bound names are replaced textually. Mapping keys are left
    alone. Unbound names and `${/regex/}` values stay as written."""
    if isinstance(value, str):
        name = placeholder_of(value)
        if name is not None:
            return copy.deepcopy(bindings[name]) if name in bindings else value
        if regex_of(value) is not None:
            return value
        return substitute_string(value, bindings)
    if isinstance(value, dict):
        return {k: substitute(v, bindings) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, bindings) for v in value]
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def json_equal(a: Any, b: Any) -> bool:
    """Equality by value with JSON types: 1 != "1", True != 1, 1 == 1.0, null only equals null,
    mappings and lists compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) or _is_number(b):
        return _is_number(a) and _is_number(b) and a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys()
                and all(json_equal(a[k], b[k]) for k in a))
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(json_equal(x, y) for x, y in zip(a, b)))
    return type(a) is type(b) and a == b


def type_name(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if _is_number(v):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "mapping"
    if isinstance(v, list):
        return "list"
    return type(v).__name__


def show(v: Any, limit: int = 200) -> str:
    """A short, unambiguous rendering for failure messages (repr keeps quotes, so 1 and '1' differ)."""
    if isinstance(v, (dict, list)):
        try:
            text = json.dumps(v, ensure_ascii=False, sort_keys=False)
        except (TypeError, ValueError):
            text = repr(v)
    else:
        text = repr(v)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
