"""The Python SDK's fast paths keep the slow paths' behaviour.

- step(): a first run returns the round-tripped value (protocol 7.5.5), built
  without the text for plain data; a replay decodes the recorded value and
  looks the operation's id up only when a custom serdes or a failure needs it.
- a replayed step is one call to perdure_vm_step_next, which also rewrites an
  envelope of plain types into plain JSON: parsing that gives exactly what the
  default serdes gives for the envelope, and anything else is left to it.
- perdure._native: perdure.h is compiled once by cffi (_cdef.py) into a
  module equivalent to parsing it, and importing perdure then parses no C.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from decimal import Decimal

import _cffi_backend
import pytest
from conftest import events

from perdure import durable_execution
from perdure._native import HEADER_PATH, LIBRARY_PATH, _cdef
from perdure.config import Duration, StepConfig
from perdure.serdes import EXTENDED_TYPES_SERDES, SerDes


class Key(str):
    pass


@pytest.mark.parametrize("made", [
    {"a": [1, 2.5, None], "t": (3, "x", [True]), "e": {}},   # plain: copied without the text
    [1, "a", [None, -0.0]],
    {"k": Key("v"), 1: "int key"},                            # not plain: through the serdes
    {"s": b"bytes", "d": Decimal("1.10")},
])
def test_first_run_and_replay_return_the_round_tripped_value(durable, made):
    seen = []

    @durable_execution
    def f(event, ctx):
        got = ctx.step(lambda _: made, name="s")
        seen.append(got)
        ctx.wait(Duration(1))   # a second invocation, which replays s
        return None

    h = durable({"f": f})
    _, d = h.execute("f")
    assert d["Status"] == "SUCCEEDED", d
    expected = EXTENDED_TYPES_SERDES.deserialize(EXTENDED_TYPES_SERDES.serialize(made))
    assert len(seen) == 2
    for got in seen:
        assert got == expected and got is not made
        assert repr(got) == repr(expected)   # the same types, not only equal values


class Recording(SerDes):
    def __init__(self):
        self.calls = []

    def serialize(self, value, serdes_context):
        self.calls.append(("serialize", serdes_context))
        return value.upper()

    def deserialize(self, data, serdes_context):
        self.calls.append(("deserialize", serdes_context))
        return data.lower()


def test_a_custom_serdes_gets_the_operation_id(durable):
    serdes = Recording()
    results = []

    @durable_execution
    def f(event, ctx):
        results.append(ctx.step(lambda _: "Ab", name="s", config=StepConfig(serdes=serdes)))
        ctx.wait(Duration(1))
        return results[-1]

    h = durable({"f": f})
    arn, d = h.execute("f")
    assert d["Status"] == "SUCCEEDED", d
    step_id = events(h.history(arn), "StepSucceeded")[0]["Id"]
    assert results == ["ab", "ab"]
    assert [(what, c.operation_id, c.durable_execution_arn) for what, c in serdes.calls] == [
        ("serialize", step_id, arn), ("deserialize", step_id, arn), ("deserialize", step_id, arn)]


def test_the_compiled_header_is_the_parsed_header(tmp_path):
    header = HEADER_PATH.read_bytes()
    path = _cdef.emit(header, tmp_path)
    assert path.name == _cdef.module_name(header, _cffi_backend.__version__) + ".py"
    assert _cdef.module_name(header + b"\n", "x") != _cdef.module_name(header, "x") != _cdef.module_name(header, "y")
    namespace: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102
    compiled, parsed = namespace["ffi"], _cdef.parse(header)
    for struct in ("perdure_vm_options", "perdure_step_config", "perdure_error_view", "perdure_error_info",
                   "perdure_batch_config", "perdure_retry_config", "perdure_buf"):
        assert compiled.sizeof(struct) == parsed.sizeof(struct), struct
    lib_c, lib_p = compiled.dlopen(str(LIBRARY_PATH)), parsed.dlopen(str(LIBRARY_PATH))
    constants = [n for n in dir(lib_p) if n.startswith("PERDURE_") and isinstance(getattr(lib_p, n), int)]
    assert len(constants) > 50
    assert {n: getattr(lib_c, n) for n in constants} == {n: getattr(lib_p, n) for n in constants}


def test_importing_perdure_parses_no_c_once_the_header_is_compiled(tmp_path):
    # A header of its own, so that its module is not the one the package ships.
    header = tmp_path / "perdure.h"
    header.write_bytes(HEADER_PATH.read_bytes() + b"\n/* a development header */\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PERDURE_HEADER": str(header),
           "PERDURE_LIBRARY": str(LIBRARY_PATH),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "bindings" / "python"),
                                          os.environ.get("PYTHONPATH", "")])}
    probe = "import sys, perdure; print(sorted({'cffi', 'pycparser'} & set(sys.modules)))"
    first = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "['cffi', 'pycparser']"   # compiled into the cache
    assert len(list((tmp_path / "cache" / "perdure").glob("_perdure_cffi_*.py"))) == 1
    second = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert second.stdout.strip() == "[]"


class Raw(SerDes):
    """Records the text it is given: what the replay then reads."""

    def serialize(self, value, serdes_context):
        return value

    def deserialize(self, data, serdes_context):
        return data


def _nested(levels):
    return '{"t":"l","v":[' * levels + '{"t":"i","v":1}' + "]}" * levels


RECORDED = [
    '{"t":"m","v":{"id":{"t":"i","v":1},"sku":{"t":"s","v":"SKU-007919"},"qty":{"t":"f","v":2.5}}}',
    '{"t":"m","v":{"t":{"t":"i","v":1},"v":{"t":"l","v":[{"t":"n","v":null},{"t":"b","v":false}]}}}',
    '{"t":"m","v":{"a":{"t":"i","v":1},"a":{"t":"s","v":"later"}}}',   # a repeated key: the last wins
    r'{"t":"s","v":"caf\u00e9 \"q\" \\ \n \ud83d\ude00"}',
    '{"t":"s","v":"été"}',
    '{"t":"i","v":-123456789012345678901234567890}',
    '{"t":"f","v":1e400}', '{"t":"f","v":-0.0}', '{"t":"m","v":{}}', '{"t":"l","v":[]}', '{"t":"n","v":null}',
    # left to the default serdes: it converts, or its types differ from plain JSON's
    '{"t":"f","v":1}', '{"t":"i","v":2.7}', '{"t":"i","v":true}', '{"t":"s","v":5}', '{"t":"b","v":0}',
    '{"t":"n","v":[1]}', '{"t":"f","v":NaN}', '{"t":"m","v":{"a":3}}', '{"t":"l","v":[1,{"t":"i","v":2}]}',
    '{"t":"t","v":[{"t":"i","v":1}]}', '{"t":"B","v":"AAE="}', '{"t":"d","v":"1.10"}',
    '{"t": "i", "v": 1}', '{"v":1,"t":"i"}', '{"t":"i","v":1,"x":0}', "[1,2]", '"plain"', "3", "null",
    _nested(63), _nested(64),
    '{"t":"l","v":[' + ",".join('{"t":"s","v":"%s"}' % ("x" * 90) for _ in range(100)) + "]}",   # > 4 KiB
]


def test_replayed_results_are_what_the_default_serdes_reads(durable):
    seen = []

    @durable_execution
    def f(event, ctx):
        replay = bool(seen)
        values = [ctx.step(lambda _, t=t: t, name="s", config=None if replay else StepConfig(serdes=Raw()))
                  for t in RECORDED]
        seen.append(values)
        ctx.wait(Duration(1))
        return None

    h = durable({"f": f})
    _, d = h.execute("f")
    assert d["Status"] == "SUCCEEDED", d
    assert len(seen) == 2
    for text, got in zip(RECORDED, seen[1], strict=True):
        expected = EXTENDED_TYPES_SERDES.deserialize(text)
        assert repr(got) == repr(expected), text   # the same types, not only equal values


@pytest.mark.parametrize("text", ['{"t":"x","v":1}', '{"t":"m","v":[]}', '{"t":"s","v":"a\tb"', "{not json"])
def test_a_recorded_value_the_fast_path_refuses_fails_as_before(durable, text):
    runs = []

    @durable_execution
    def f(event, ctx):
        runs.append(1)
        ctx.step(lambda _: text, name="s", config=StepConfig(serdes=Raw()) if len(runs) == 1 else None)
        ctx.wait(Duration(1))
        return "unreachable"

    h = durable({"f": f})
    arn, d = h.execute("f")
    step_id = events(h.history(arn), "StepSucceeded")[0]["Id"]
    assert d["Status"] == "FAILED", d
    assert d["Error"]["ErrorMessage"] == f"Deserialization failed for id: {step_id}"


def test_a_replayed_envelope_of_plain_types_is_not_decoded_in_python(durable, monkeypatch):
    decoded = []
    original = EXTENDED_TYPES_SERDES.deserialize
    monkeypatch.setattr(EXTENDED_TYPES_SERDES, "deserialize", lambda data, *a: decoded.append(data) or original(data))
    seen = []

    @durable_execution
    def f(event, ctx):
        seen.append(ctx.step(lambda _: {"a": [1, 2.5, "x", None, True]}, name="s"))
        ctx.wait(Duration(1))
        return None

    h = durable({"f": f})
    _, d = h.execute("f")
    assert d["Status"] == "SUCCEEDED", d
    assert seen == [{"a": [1, 2.5, "x", None, True]}] * 2
    assert decoded == []
