"""Unit tests of the conformance harness's matching logic (tests/conformance/harness), plus end-to-end runs of
`tests/conformance/run` against the real CLI and store with a stand-in worker (the C test worker
build/tests/cli_worker), so the orchestration is tested without any SDK.

    python3 -m pytest tests/conformance/test_harness.py
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from harness import callbacks as cb  # noqa: E402
from harness import discovery  # noqa: E402
from harness.history import match_history, try_match_history  # noqa: E402
from harness.logs import check_logs, execution_records, field_matches, parse_lines, parse_timestamp  # noqa: E402
from harness.main import format_outcome, summary  # noqa: E402
from harness.result import check_result  # noqa: E402
from harness.runner import Outcome, history_status  # noqa: E402
from harness.values import bind_variables, json_equal, substitute  # noqa: E402

REQUIREMENTS = REPO.parent / "shared" / "conformance" / "requirements"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:step-1-1:$LATEST/durable-execution/n/abc"
OTHER_ARN = "arn:aws:lambda:us-east-1:000000000000:function:target_echo:$LATEST/durable-execution/m/def"


def ev(eid, etype, **kw):
    e = {"EventType": etype, "EventId": eid, "EventTimestamp": 1767225600.0 + eid}
    e.update(kw)
    e.setdefault(f"{etype}Details", {})
    return e


# ---- values: Variables and substitution ----------------------------------------------------------------------

class TestVariables:
    def test_gen_str(self):
        b = bind_variables({"A": "${GEN_STR:10}", "B": "${GEN_STR:3}"}, random.Random(1))
        assert len(b["A"]) == 10 and len(b["B"]) == 3
        assert all(c in "abcdefghijklmnopqrstuvwxyz0123456789" for c in b["A"] + b["B"])

    def test_gen_str_fresh_each_time(self):
        seen = {bind_variables({"A": "${GEN_STR:12}"})["A"] for _ in range(20)}
        assert len(seen) == 20

    def test_literal_and_non_string(self):
        b = bind_variables({"L": "hello ${X}", "N": 5, "F": True})
        assert b == {"L": "hello ${X}", "N": "5", "F": "True"}

    def test_none(self):
        assert bind_variables(None) == {}


class TestSubstitute:
    def test_whole_value_keeps_type(self):
        assert substitute("${X}", {"X": [1, 2]}) == [1, 2]

    def test_embedded(self):
        assert substitute('"${A}"', {"A": "abc"}) == '"abc"'
        assert substitute("Hello, ${A}!", {"A": "W"}) == "Hello, W!"

    def test_unbound_stays(self):
        assert substitute("${Y} and ${X}", {"X": "x"}) == "${Y} and x"
        assert substitute("${Y}", {}) == "${Y}"

    def test_nested_input(self):
        got = substitute({"name": "${A}", "value": ["${B}", 3]}, {"A": "a", "B": "b"})
        assert got == {"name": "a", "value": ["b", 3]}

    def test_regex_untouched(self):
        assert substitute("${/^${X}$/}", {"X": "q"}) == "${/^${X}$/}"

    def test_empty_input_is_null(self):
        assert substitute(yaml.safe_load("Input:\n")["Input"], {}) is None


class TestJsonEqual:
    @pytest.mark.parametrize("a,b,eq", [
        (1, 1, True), (1, 1.0, True), (1, "1", False), (True, 1, False), (False, 0, False), (None, None, True),
        (None, "", False), ({"a": [1]}, {"a": [1]}, True), ({"a": 1}, {"a": 1, "b": 2}, False), ([1], [1, 2], False),
        ("x", "x", True),
    ])
    def test_cases(self, a, b, eq):
        assert json_equal(a, b) is eq


# ---- history matching ----------------------------------------------------------------------------------------

def H(text):
    return yaml.safe_load(textwrap.dedent(text))


class TestHistoryRules:
    actual = [
        ev(1, "ExecutionStarted", Id="x", ExecutionStartedDetails={"Input": {"Payload": '"World"'}, "ExecutionTimeout": 300}),
        ev(2, "StepStarted", SubType="Step", Id="id-1", Name="greet"),
        ev(3, "StepSucceeded", SubType="Step", Id="id-1", Name="greet",
           StepSucceededDetails={"Result": {"Payload": '"Hello, World!"'}, "RetryDetails": {"CurrentAttempt": 1}}),
        ev(4, "InvocationCompleted", InvocationCompletedDetails={"StartTimestamp": 1.0, "EndTimestamp": 2.0, "RequestId": "r"}),
        ev(5, "ExecutionSucceeded", Id="x", ExecutionSucceededDetails={"Result": {"Payload": '"Hello, World!"'}}),
    ]

    def test_readme_1_1(self):
        exp = H("""
            - EventType: StepStarted
              SubType: Step
              EventId: 2
              Id: ${ID1}
              EventTimestamp: '*'
              StepStartedDetails: {}
            - EventType: StepSucceeded
              SubType: Step
              EventId: 3
              Id: ${ID1}
              EventTimestamp: '*'
              StepSucceededDetails: {}
            - EventType: InvocationCompleted
              EventId: 4
              EventTimestamp: '*'
              InvocationCompletedDetails: {}
        """)
        b = {}
        assert match_history(exp, self.actual, b) == []
        assert b == {"ID1": "id-1"}

    def test_rule1_by_event_id_order_irrelevant_extras_ignored(self):
        exp = [{"EventId": 4, "EventType": "InvocationCompleted"}, {"EventId": 2, "EventType": "StepStarted"}]
        assert match_history(exp, list(reversed(self.actual)), {}) == []

    def test_rule1_missing_event(self):
        errs = match_history([{"EventId": 9, "EventType": "WaitSucceeded"}], self.actual, {})
        assert errs == ["EventId 9 (WaitSucceeded): no such event (the history has 5 events, the last is "
                        "EventId 5 (ExecutionSucceeded))"]

    def test_rule1_expected_without_event_id(self):
        errs = match_history([{"EventType": "StepStarted"}], self.actual, {})
        assert errs == ["ExpectedExecutionHistory[0] (StepStarted) has no EventId"]

    def test_rule1_wrong_event_type_at_id(self):
        errs = match_history([{"EventId": 3, "EventType": "StepFailed"}], self.actual, {})
        assert errs == ["EventId 3 (StepFailed).EventType: expected 'StepFailed', got 'StepSucceeded'"]

    def test_rule2_key_must_exist_even_for_wildcards(self):
        for wild in ({}, "*"):
            errs = match_history([{"EventId": 2, "ParentId": wild}], self.actual, {})
            assert len(errs) == 1 and errs[0].startswith("EventId 2.ParentId: key missing")

    def test_rule2_details_must_exist(self):
        actual = [{"EventType": "StepStarted", "EventId": 2}]
        errs = match_history([{"EventId": 2, "StepStartedDetails": {}}], actual, {})
        assert errs and "StepStartedDetails: key missing" in errs[0]

    def test_rule2_extra_actual_keys_fine(self):
        exp = [{"EventId": 3, "StepSucceededDetails": {"Result": {}}}]
        assert match_history(exp, self.actual, {}) == []

    def test_rule2_nested_path_in_message(self):
        exp = [{"EventId": 3, "StepSucceededDetails": {"Result": {"Payload": '"Hi"'}}}]
        errs = match_history(exp, self.actual, {})
        assert errs == ["EventId 3.StepSucceededDetails.Result.Payload: expected '\"Hi\"', got '\"Hello, World!\"'"]

    def test_rule2_lists(self):
        actual = [ev(2, "X", L=[1, {"a": 2, "b": 3}])]
        assert match_history([{"EventId": 2, "L": [1, {"a": 2}]}], actual, {}) == []
        errs = match_history([{"EventId": 2, "L": [1]}], actual, {})
        assert errs and "expected a list of 1, got 2" in errs[0]
        errs = match_history([{"EventId": 2, "L": [2, "*"]}], actual, {})
        assert errs == ["EventId 2.L[0]: expected 2, got 1"]

    def test_rule2_mapping_vs_scalar(self):
        errs = match_history([{"EventId": 3, "Name": {"x": 1}}], self.actual, {})
        assert errs and "expected a mapping" in errs[0]

    def test_rule3_wildcards_accept_any_type(self):
        actual = [ev(2, "X", A=None, B=[1], C="s", D={"k": 1})]
        exp = [{"EventId": 2, "A": "*", "B": {}, "C": {}, "D": "*"}]
        assert match_history(exp, actual, {}) == []

    def test_rule4_binds_any_type_and_checks_later_uses(self):
        actual = [ev(2, "X", Id=7, ParentId=7), ev(3, "Y", Id=8, ParentId=7)]
        b = {}
        assert match_history([{"EventId": 2, "Id": "${P}", "ParentId": "${P}"},
                              {"EventId": 3, "ParentId": "${P}"}], actual, b) == []
        assert b["P"] == 7
        errs = match_history([{"EventId": 3, "Id": "${P}"}], actual, b)
        assert errs == ["EventId 3.Id: ${P} is bound to 7, got 8"]

    def test_rule4_bound_from_variables_must_match(self):
        actual = [ev(2, "CallbackStarted", Name="abc")]
        assert match_history([{"EventId": 2, "Name": "${CB_NAME}"}], actual, {"CB_NAME": "abc"}) == []
        errs = match_history([{"EventId": 2, "Name": "${CB_NAME}"}], actual, {"CB_NAME": "xyz"})
        assert errs == ["EventId 2.Name: ${CB_NAME} is bound to 'xyz', got 'abc'"]

    def test_rule4_type_strict(self):
        actual = [ev(2, "X", A=1), ev(3, "X", A="1")]
        errs = match_history([{"EventId": 2, "A": "${V}"}, {"EventId": 3, "A": "${V}"}], actual, {})
        assert errs == ["EventId 3.A: ${V} is bound to 1, got '1'"]

    def test_rule5_regex_search_over_str(self):
        actual = [ev(2, "StepFailed", StepFailedDetails={"RetryDetails": {"NextAttemptDelaySeconds": 3},
                                                          "Error": {"Payload": {"ErrorType": "MyTransientError"}}})]
        exp = H("""
            - EventId: 2
              StepFailedDetails:
                RetryDetails:
                  NextAttemptDelaySeconds: ${/^[0-5]$/}
                Error:
                  Payload:
                    ErrorType: ${/.*TransientError$/}
        """)
        assert match_history(exp, actual, {}) == []
        exp[0]["StepFailedDetails"]["RetryDetails"]["NextAttemptDelaySeconds"] = "${/^[4-5]$/}"
        errs = match_history(exp, actual, {})
        assert errs == ["EventId 2.StepFailedDetails.RetryDetails.NextAttemptDelaySeconds: 3 does not match regex /^[4-5]$/"]

    def test_rule5_regex_is_search_not_fullmatch(self):
        actual = [ev(2, "X", P='{"wrapped": 1}')]
        assert match_history([{"EventId": 2, "P": "${/wrapped/}"}], actual, {}) == []

    def test_rule5_regex_with_braces(self):
        actual = [ev(2, "X", T="2026-01-01")]
        assert match_history([{"EventId": 2, "T": "${/^\\d{4}-/}"}], actual, {}) == []

    def test_rule6_literal_with_substitution(self):
        actual = [ev(2, "CallbackSucceeded", CallbackSucceededDetails={"Result": {"Payload": '"abc123"'}})]
        exp = [{"EventId": 2, "CallbackSucceededDetails": {"Result": {"Payload": '"${INPUT_1}"'}}}]
        assert match_history(exp, actual, {"INPUT_1": "abc123"}) == []
        errs = match_history(exp, actual, {"INPUT_1": "zzz"})
        assert errs == ["EventId 2.CallbackSucceededDetails.Result.Payload: expected '\"zzz\"', got '\"abc123\"'"]

    def test_rule6_unbound_inside_string_stays_literal(self):
        actual = [ev(2, "X", P='"${NOPE}"')]
        assert match_history([{"EventId": 2, "P": '"${NOPE}"'}], actual, {}) == []

    def test_rule6_type_included(self):
        actual = [ev(2, "WaitStarted", WaitStartedDetails={"Duration": "2"})]
        errs = match_history([{"EventId": 2, "WaitStartedDetails": {"Duration": 2}}], actual, {})
        assert errs == ["EventId 2.WaitStartedDetails.Duration: expected number 2, got string '2'"]
        actual = [ev(2, "X", B=1)]
        assert match_history([{"EventId": 2, "B": True}], actual, {}) != []
        assert match_history([{"EventId": 2, "B": 1.0}], actual, {}) == []

    def test_rule6_null(self):
        actual = [ev(2, "X", P=None), ev(3, "X", P="")]
        assert match_history(H("- EventId: 2\n  P:\n"), actual, {}) == []
        assert match_history(H("- EventId: 3\n  P:\n"), actual, {}) != []

    def test_rule7_payload_text_examples(self):
        actual = [ev(2, "StepSucceeded", StepSucceededDetails={"Result": {"Payload": "3"}}),
                  ev(3, "StepSucceeded", StepSucceededDetails={"Result": {"Payload": "OPSERDE:X,Y"}})]
        exp = H("""
            - EventId: 2
              StepSucceededDetails: {Result: {Payload: '3'}}
            - EventId: 3
              StepSucceededDetails: {Result: {Payload: 'OPSERDE:X,Y'}}
        """)
        assert match_history(exp, actual, {}) == []
        assert match_history(H("- EventId: 2\n  StepSucceededDetails: {Result: {Payload: 3}}"), actual, {}) != []

    def test_rule8_bindings_shared_with_result_and_logs(self):
        actual = [ev(2, "StepStarted", Id="op-1")]
        b = {}
        match_history([{"EventId": 2, "Id": "${ID1}"}], actual, b)
        assert substitute({"match": {"op": "${ID1}"}}, b) == {"match": {"op": "op-1"}}

    def test_empty_expected_history_fails(self):
        assert match_history([], self.actual, {}) != []
        assert match_history(None, self.actual, {}) != []

    def test_try_match_does_not_leak_bindings(self):
        actual = [ev(2, "X", Id="a")]
        b = {}
        errs, trial = try_match_history([{"EventId": 2, "Id": "${I}"}, {"EventId": 3}], actual, b)
        assert errs and b == {} and trial == {"I": "a"}

    def test_protocol_example_4_9_numbering(self):
        # protocol.md R5: 2 CallbackStarted, 3 WaitStarted, 4 IC, 5 CallbackSucceeded, 6 IC, 7 WaitSucceeded, 8 IC, 9 ExecutionSucceeded
        types = ["ExecutionStarted", "CallbackStarted", "WaitStarted", "InvocationCompleted", "CallbackSucceeded",
                 "InvocationCompleted", "WaitSucceeded", "InvocationCompleted", "ExecutionSucceeded"]
        actual = [ev(i + 1, t) for i, t in enumerate(types)]
        exp = [{"EventId": i + 1, "EventType": t} for i, t in enumerate(types)]
        assert match_history(exp, actual, {}) == []
        swapped = actual[:]
        swapped[4], swapped[6] = ev(5, "WaitSucceeded"), ev(7, "CallbackSucceeded")
        errs = match_history(exp, swapped, {})
        assert errs == ["EventId 5 (CallbackSucceeded).EventType: expected 'CallbackSucceeded', got 'WaitSucceeded'",
                        "EventId 7 (WaitSucceeded).EventType: expected 'WaitSucceeded', got 'CallbackSucceeded'"]


# Worked example (B) of protocol.md §6.4, against a requirement-style expectation.
EXAMPLE_B = json.loads(r'''[
 {"EventType":"ExecutionStarted","EventId":1,"Id":"e","EventTimestamp":1767225600.000,"ExecutionStartedDetails":{"Input":{"Payload":"{}"},"ExecutionTimeout":300}},
 {"EventType":"CallbackStarted","SubType":"Callback","EventId":2,"Id":"cb-id","Name":"approval","EventTimestamp":1767225600.101,"CallbackStartedDetails":{"CallbackId":"Y2ItZXhhbXBsZS0wMDAx","Timeout":300}},
 {"EventType":"StepStarted","SubType":"Step","EventId":3,"Id":"st-id","Name":"notify","EventTimestamp":1767225600.205,"StepStartedDetails":{}},
 {"EventType":"StepSucceeded","SubType":"Step","EventId":4,"Id":"st-id","Name":"notify","EventTimestamp":1767225600.206,"StepSucceededDetails":{"Result":{"Payload":"\"sent\""},"RetryDetails":{"CurrentAttempt":1}}},
 {"EventType":"InvocationCompleted","EventId":5,"EventTimestamp":1767225600.310,"InvocationCompletedDetails":{"StartTimestamp":1767225600.001,"EndTimestamp":1767225600.309,"RequestId":"req-1"}},
 {"EventType":"CallbackSucceeded","SubType":"Callback","EventId":6,"Id":"cb-id","Name":"approval","EventTimestamp":1767225642.500,"CallbackSucceededDetails":{"Result":{"Payload":"{\"approved\": true}"}}},
 {"EventType":"InvocationCompleted","EventId":7,"EventTimestamp":1767225642.720,"InvocationCompletedDetails":{"StartTimestamp":1767225642.510,"EndTimestamp":1767225642.719,"RequestId":"req-2"}},
 {"EventType":"ExecutionSucceeded","EventId":8,"Id":"e","EventTimestamp":1767225642.721,"ExecutionSucceededDetails":{"Result":{"Payload":"\"{\\\"approved\\\": true}\""}}}
]''')


def test_protocol_example_b():
    exp = H("""
        - EventType: CallbackStarted
          SubType: Callback
          EventId: 2
          Id: ${CB1}
          Name: approval
          EventTimestamp: '*'
          CallbackStartedDetails:
            CallbackId: '*'
            Timeout: 300
        - EventType: StepSucceeded
          EventId: 4
          Id: ${S1}
          StepSucceededDetails:
            Result: {Payload: '"sent"'}
        - EventType: CallbackSucceeded
          EventId: 6
          Id: ${CB1}
          CallbackSucceededDetails:
            Result:
              Payload: '{"approved": true}'
        - EventType: ExecutionSucceeded
          EventId: 8
          ExecutionSucceededDetails:
            Result: '*'
    """)
    b = {}
    assert match_history(exp, EXAMPLE_B, b) == []
    assert b == {"CB1": "cb-id", "S1": "st-id"}
    # The execution result is the raw callback string encoded once more: one decode gives the raw body.
    ex = {"Status": "SUCCEEDED", "Result": EXAMPLE_B[-1]["ExecutionSucceededDetails"]["Result"]["Payload"]}
    assert check_result({"ExecutionStatus": "SUCCEEDED", "Result": '{"approved": true}'}, ex, b) == []


@pytest.mark.skipif(not REQUIREMENTS.is_dir(), reason="no ../shared/conformance/requirements")
def test_real_requirement_1_1_against_a_synthetic_history():
    data = yaml.safe_load((REQUIREMENTS / "step" / "1-1.yaml").read_text())
    b = bind_variables(data.get("Variables"))
    assert substitute(data["Input"], b) == "World"
    assert match_history(data["ExpectedExecutionHistory"], TestHistoryRules.actual, b) == []
    ex = {"Status": "SUCCEEDED", "Result": '"Hello, World!"'}
    assert check_result(data["ExpectedResult"], ex, b) == []


@pytest.mark.skipif(not REQUIREMENTS.is_dir(), reason="no ../shared/conformance/requirements")
def test_every_requirement_file_loads_and_uses_known_keys():
    known = {"description", "handler", "invocations", "async", "AsyncInvoke", "AsyncConfig", "Variables", "Input",
             "ExpectedResult", "CallbackActions", "ExpectedExecutionHistory", "ExpectedLogs", "optional",
             "DefaultRetryParameters"}
    files = sorted(REQUIREMENTS.glob("*/*.yaml"))
    assert files
    for f in files:
        data = yaml.safe_load(f.read_text())
        assert set(data) <= known, f
        assert all("EventId" in e for e in data["ExpectedExecutionHistory"]), f
        cb.validate_actions(data.get("CallbackActions"))
        bind_variables(data.get("Variables"))


# ---- ExpectedResult ------------------------------------------------------------------------------------------

class TestResult:
    def test_status_mismatch_stops(self):
        errs = check_result({"ExecutionStatus": "SUCCEEDED", "Result": 1},
                            {"Status": "FAILED", "Error": {"ErrorType": "ValueError"}}, {})
        assert errs == ["ExecutionStatus: expected 'SUCCEEDED', got 'FAILED' (Error: {\"ErrorType\": \"ValueError\"})"]

    def test_result_only_checked_on_success(self):
        assert check_result({"ExecutionStatus": "FAILED", "Result": "x"}, {"Status": "FAILED"}, {}) == []

    def test_absent_result_not_checked(self):
        assert check_result({"ExecutionStatus": "SUCCEEDED"}, {"Status": "SUCCEEDED", "Result": '"x"'}, {}) == []

    def test_empty_result_expects_null(self):
        exp = yaml.safe_load("ExecutionStatus: SUCCEEDED\nResult:\n")
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": "null"}, {}) == []
        assert check_result(exp, {"Status": "SUCCEEDED"}, {}) == []
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": '""'}, {}) != []

    def test_readme_examples(self):
        exp = yaml.safe_load("ExecutionStatus: SUCCEEDED\nResult: Hello, World!\n")
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": '"Hello, World!"'}, {}) == []
        # 5-16: the stored text is doubly encoded.
        exp = yaml.safe_load("ExecutionStatus: SUCCEEDED\nResult: '\"HELLO\"'\n")
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": json.dumps(json.dumps("HELLO"))}, {}) == []
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": '"HELLO"'}, {}) != []

    def test_decoded_once_by_value(self):
        exp = {"ExecutionStatus": "SUCCEEDED", "Result": {"count": 42, "doubled": 84}}
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": '{"doubled": 84, "count": 42}'}, {}) == []
        errs = check_result(exp, {"Status": "SUCCEEDED", "Result": '{"doubled": 84, "count": "42"}'}, {})
        assert len(errs) == 1 and errs[0].startswith("Result: expected")

    def test_non_json_raw_used(self):
        exp = {"ExecutionStatus": "SUCCEEDED", "Result": "OPSERDE:X"}
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": "OPSERDE:X"}, {}) == []

    def test_substitution(self):
        exp = {"ExecutionStatus": "SUCCEEDED", "Result": "Hello, ${INPUT_1}!"}
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": '"Hello, ab!"'}, {"INPUT_1": "ab"}) == []
        exp = {"ExecutionStatus": "SUCCEEDED", "Result": "${INPUT_1}"}
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": '"ab"'}, {"INPUT_1": "ab"}) == []

    def test_number_vs_string(self):
        exp = {"ExecutionStatus": "SUCCEEDED", "Result": 3}
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": "3"}, {}) == []
        assert check_result(exp, {"Status": "SUCCEEDED", "Result": '"3"'}, {}) != []


# ---- async status --------------------------------------------------------------------------------------------

class TestStatus:
    def test_top_level_wins(self):
        assert history_status({"ExecutionStatus": "FAILED", "Events": [ev(2, "ExecutionSucceeded")]}) == "FAILED"

    def test_last_execution_event(self):
        assert history_status({"Events": [ev(1, "ExecutionStarted"), ev(2, "ExecutionSucceeded")]}) == "SUCCEEDED"
        assert history_status({"Events": [ev(1, "ExecutionStarted"), ev(2, "ExecutionTimedOut")]}) == "TIMED_OUT"
        assert history_status({"Events": [ev(1, "ExecutionStarted")]}) is None

    def test_stopped_not_terminal(self):
        from harness.runner import ASYNC_TERMINAL
        st = history_status({"Events": [ev(1, "ExecutionStarted"), ev(2, "ExecutionStopped")]})
        assert st == "STOPPED" and st not in ASYNC_TERMINAL


# ---- logs ----------------------------------------------------------------------------------------------------

def log_line(msg=None, arn=ARN, key="executionArn", ts=None, **extra):
    rec = {}
    if arn is not None:
        rec[key] = arn
    if msg is not None:
        rec["message"] = msg
    if ts is not None:
        rec["timestamp"] = ts
    rec.update(extra)
    return json.dumps(rec)


def records_of(lines, arn=ARN):
    return execution_records(parse_lines(lines), arn)


class TestLogRecords:
    def test_scope_by_either_arn_key(self):
        recs = records_of([log_line("a"), log_line("b", key="durableExecutionArn"), log_line("c", arn=OTHER_ARN),
                           log_line("d", arn=None), "plain text line " + ARN, "", "{not json"])
        assert [r.fields["message"] for r in recs] == ["a", "b"]

    def test_non_json_line_exposes_message_only(self):
        (r,) = parse_lines(["  hello world  "])
        assert r.fields == {"message": "hello world"}
        (r,) = parse_lines(["[1, 2]"])
        assert r.fields == {"message": "[1, 2]"}

    def test_json_top_level_keys(self):
        (r,) = parse_lines([json.dumps({"a": {"b": 1}, "c": 2})])
        assert r.fields == {"a": {"b": 1}, "c": 2}

    def test_ordering_by_timestamp_then_ingestion(self):
        lines = [log_line("late", ts="2026-01-01T00:00:02Z"), log_line("early", ts="2026-01-01T00:00:01Z"),
                 log_line("same-1", ts="2026-01-01T00:00:03.000Z"), log_line("same-2", ts="2026-01-01T00:00:03.000Z"),
                 log_line("no-ts")]
        assert [r.fields["message"] for r in records_of(lines)] == ["early", "late", "same-1", "same-2", "no-ts"]

    @pytest.mark.parametrize("value,secs", [
        ("2026-01-01T00:00:00Z", 1767225600.0), ("2026-01-01T00:00:00.500+00:00", 1767225600.5),
        (1767225600, 1767225600.0), (1767225600500, 1767225600.5), ("1767225600.25", 1767225600.25),
        ("garbage", None), (None, None), (True, None),
    ])
    def test_parse_timestamp(self, value, secs):
        assert parse_timestamp(value) == secs


class TestLogFieldRules:
    @pytest.mark.parametrize("expected,actual,ok", [
        ("abc", "abc", True), ("abc", "  abc \n", True), (" abc ", "abc", True), ("abc", "abcd", False),
        ("/b.d/", "xxabcdxx", True), ("/^b/", "abc", False), ("/^\\d+$/", 42, True), ("/.*/", False, True),
        (True, True, True), (True, 1, False), (True, "true", False), (False, 0, False),
        (1, 1, True), (1, 1.0, True), (1, "1", True), (1, " 1.0 ", True), (1, True, False), (2, "x", False),
        (None, None, True), (None, "None", True), ("NONE", "NONE", True),
    ])
    def test_value_rules(self, expected, actual, ok):
        assert field_matches(expected, actual) is ok


class TestExpectedLogs:
    lines = [
        log_line(plugin="CONFPLUGIN", hook="invocation-start", first=True, ts=1),
        log_line("Greeting step running for: ab12", ts=2),
        log_line("Greeting step running for: ab12", arn=OTHER_ARN, ts=2),
        log_line(plugin="CONFPLUGIN", hook="invocation-end", status="SUCCEEDED", ts=3),
        "raw stderr noise",
    ]

    def check(self, entries, lines=None, bindings=None):
        return check_logs(yaml.safe_load(textwrap.dedent(entries)) if isinstance(entries, str) else entries,
                          records_of(lines or self.lines), bindings or {})

    def test_plugin_10_1_shape(self):
        entries = """
            - match: {plugin: CONFPLUGIN, hook: invocation-start, first: true}
              count: 1
            - match: {message: "/Greeting step running for: ${INPUT_1}/"}
              count: 1
              after:
                - {plugin: CONFPLUGIN, hook: invocation-start, first: true}
            - match: {plugin: CONFPLUGIN, hook: invocation-end, status: SUCCEEDED}
              count: 1
              after:
                - {message: "/Greeting step running for: ${INPUT_1}/"}
            - match: {plugin: CONFPLUGIN, hook: invocation-start, first: false}
              count: 0
        """
        assert self.check(entries, bindings={"INPUT_1": "ab12"}) == []

    def test_count_scoped_to_execution(self):
        assert self.check([{"match": {"message": "/Greeting/"}, "count": 1}]) == []
        errs = self.check([{"match": {"message": "/Greeting/"}, "count": 2}])
        assert len(errs) == 1 and "expected exactly 2 matching record(s), got 1" in errs[0]

    def test_default_at_least_one(self):
        errs = self.check([{"match": {"message": "nothing"}}])
        assert len(errs) == 1 and "expected at least 1 matching record, got 0" in errs[0]

    def test_min_max(self):
        assert self.check([{"match": {"plugin": "CONFPLUGIN"}, "min_count": 2, "max_count": 2}]) == []
        errs = self.check([{"match": {"plugin": "CONFPLUGIN"}, "min_count": 3}])
        assert "expected at least 3" in errs[0]
        errs = self.check([{"match": {"plugin": "CONFPLUGIN"}, "max_count": 1}])
        assert "expected at most 1" in errs[0]
        assert self.check([{"match": {"plugin": "NOPE"}, "max_count": 1}]) == []

    def test_count_zero_absence(self):
        assert self.check([{"match": {"hook": "invocation-start", "first": False}, "count": 0}]) == []
        errs = self.check([{"match": {"hook": "invocation-start"}, "count": 0}])
        assert "expected exactly 0" in errs[0]

    def test_field_must_exist(self):
        errs = self.check([{"match": {"hook": "invocation-start", "status": "/.*/"}}])
        assert errs

    def test_raw_line_never_an_execution_record(self):
        assert "expected at least 1" in self.check([{"match": {"message": "raw stderr noise"}}])[0]

    def test_after_violation(self):
        errs = self.check([{"match": {"hook": "invocation-start"}, "after": {"hook": "invocation-end"}}])
        assert len(errs) == 1 and "sit before the last match of `after` anchor" in errs[0]

    def test_before(self):
        assert self.check([{"match": {"hook": "invocation-start"}, "before": [{"hook": "invocation-end"}]}]) == []
        errs = self.check([{"match": {"hook": "invocation-end"}, "before": {"hook": "invocation-start"}}])
        assert len(errs) == 1 and "sit after the first match of `before` anchor" in errs[0]

    def test_after_uses_last_anchor_match_before_uses_first(self):
        lines = [log_line("A", ts=1), log_line("X", ts=2), log_line("A", ts=3), log_line("Y", ts=4)]
        assert self.check([{"match": {"message": "X"}, "after": {"message": "A"}}], lines)
        assert self.check([{"match": {"message": "Y"}, "after": {"message": "A"}}], lines) == []
        assert self.check([{"match": {"message": "X"}, "before": {"message": "A"}}], lines)
        lines2 = [log_line("X", ts=0)] + lines
        assert self.check([{"match": {"message": "X"}, "before": {"message": "A"}}], lines2)
        assert self.check([{"match": {"message": "X"}, "count": 2, "before": {"message": "Y"}}], lines2) == []

    def test_every_anchor_must_match(self):
        errs = self.check([{"match": {"hook": "invocation-end"}, "after": [{"hook": "invocation-start"}, {"hook": "nope"}]}])
        assert len(errs) == 1 and "anchor {\"hook\": \"nope\"} matches no record" in errs[0]

    def test_zero_own_matches_skip_ordering(self):
        errs = self.check([{"match": {"hook": "nope"}, "count": 0, "after": {"hook": "invocation-end"}}])
        assert errs == []
        errs = self.check([{"match": {"hook": "nope"}, "after": {"hook": "invocation-end"}}])
        assert len(errs) == 1 and "at least 1" in errs[0]

    def test_equal_keys_are_concurrent(self):
        # One record matching both the entry and its anchor satisfies `after` and `before`.
        lines = [log_line("both", tag="t", ts=1)]
        assert self.check([{"match": {"message": "both"}, "after": {"tag": "t"}, "before": {"tag": "t"}}], lines) == []

    def test_order_follows_timestamp_not_file(self):
        lines = [log_line("second", ts=2), log_line("first", ts=1)]
        assert self.check([{"match": {"message": "second"}, "after": {"message": "first"}}], lines) == []

    def test_substitution_of_whole_entry(self):
        lines = [log_line(plugin="P", hook="operation-end", op="op-9", status="SUCCEEDED")]
        entries = [{"match": {"plugin": "P", "op": "${ID1}"}, "count": "${N}"}]
        assert self.check(entries, lines, {"ID1": "op-9", "N": 1}) == []
        assert self.check([{"match": {"op": "${ID1}"}}], lines, {})  # unbound stays literal

    def test_bad_entries(self):
        assert self.check([{"count": 1}])
        assert check_logs({"match": {}}, [], {})


# ---- callbacks -----------------------------------------------------------------------------------------------

WFC_EVENTS = [
    ev(1, "ExecutionStarted"),
    ev(2, "ContextStarted", SubType="WaitForCallback", Id="ctx", Name="wfc-name"),
    ev(3, "CallbackStarted", SubType="Callback", Id="cb", ParentId="ctx", CallbackStartedDetails={"CallbackId": "CB-1"}),
    ev(4, "StepStarted", SubType="Step", Id="st", ParentId="ctx"),
    ev(5, "StepSucceeded", SubType="Step", Id="st", ParentId="ctx"),
    ev(6, "CallbackStarted", SubType="Callback", Id="cb2", Name="named", CallbackStartedDetails={"CallbackId": "CB-2"}),
    ev(7, "CallbackStarted", SubType="Callback", Id="cb3", CallbackStartedDetails={"CallbackId": "CB-3"}),
]


class TestCallbacks:
    def test_inheritance_from_wait_for_callback_parent(self):
        assert cb.effective_names(WFC_EVENTS) == ["", "wfc-name", "wfc-name", "wfc-name", "wfc-name", "named", ""]

    def test_new_callbacks_in_order_skipping_handled(self):
        got = cb.new_callbacks(WFC_EVENTS, {"CB-2"})
        assert [(p.callback_id, p.name) for p in got] == [("CB-1", "wfc-name"), ("CB-3", "")]

    def test_name_rules(self):
        assert cb.name_matches("*", "", {})
        assert cb.name_matches("${CB_NAME}", "abc", {"CB_NAME": "abc"})
        assert not cb.name_matches("${CB_NAME}", "abd", {"CB_NAME": "abc"})
        assert cb.name_matches("${/^ab/}", "abc", {})
        assert not cb.name_matches("${/^b/}", "abc", {})
        assert cb.name_matches("", "", {})
        assert not cb.name_matches("approval", "", {})

    def test_first_unused_action_wins(self):
        actions = [{"CallbackName": "a", "Operation": "success"}, {"CallbackName": "*", "Operation": "success"},
                   {"CallbackName": "*", "Operation": "failure"}]
        used = set()
        assert cb.find_action(actions, used, "b", {}) == 1
        used.add(1)
        assert cb.find_action(actions, used, "b", {}) == 2
        assert cb.find_action(actions, used, "a", {}) == 0
        used |= {0, 2}
        assert cb.find_action(actions, used, "a", {}) is None

    def test_heartbeat_does_not_consume(self):
        assert not cb.consumes({"Operation": "heartbeat"})
        assert cb.consumes({"Operation": "success"}) and cb.consumes({"Operation": "FAILURE"})

    def test_success_body(self):
        b = {"P": "abc"}
        assert cb.cli_args({"Operation": "success", "Payload": "${P}"}, "ID", b) == \
            ["callback", "succeed", "ID", "--", '"abc"']
        assert cb.cli_args({"Operation": "success", "Payload": 42}, "ID", b)[-1] == "42"
        assert cb.cli_args({"Operation": "success", "Payload": {"status": "approved"}}, "ID", b)[-1] == \
            '{"status": "approved"}'
        assert cb.cli_args({"Operation": "success"}, "ID", b) == ["callback", "succeed", "ID"]
        assert cb.cli_args({"Operation": "success", "Payload": None}, "ID", b) == ["callback", "succeed", "ID"]

    def test_failure_body(self):
        p = {"ErrorType": "RejectedError", "ErrorMessage": "not approved", "ErrorData": "d", "Other": "x"}
        assert cb.cli_args({"Operation": "failure", "Payload": p}, "ID", {}) == \
            ["callback", "fail", "ID", "--type", "RejectedError", "--message", "not approved", "--data", "d"]
        assert cb.cli_args({"Operation": "failure"}, "ID", {}) == ["callback", "fail", "ID"]
        with pytest.raises(cb.ActionError, match="must be a mapping"):
            cb.cli_args({"Operation": "failure", "Payload": "x"}, "ID", {})
        with pytest.raises(cb.ActionError, match="StackTrace"):
            cb.cli_args({"Operation": "failure", "Payload": {"StackTrace": ["a"]}}, "ID", {})

    def test_heartbeat(self):
        assert cb.cli_args({"Operation": "heartbeat", "Payload": "x"}, "ID", {}) == ["callback", "heartbeat", "ID"]

    def test_validate(self):
        assert cb.validate_actions(None) == []
        with pytest.raises(cb.ActionError):
            cb.validate_actions([{"CallbackName": "a", "Operation": "explode"}])
        with pytest.raises(cb.ActionError):
            cb.validate_actions([{"Operation": "success"}])
        assert cb.delay_seconds({"Delay": 3}) == 3.0 and cb.delay_seconds({}) == 0.0


# ---- discovery -----------------------------------------------------------------------------------------------

class TestDiscovery:
    def req(self, suite, id_):
        return discovery.Requirement(suite=suite, id=id_, path=Path(f"/x/{suite}/{id_}.yaml"))

    def test_handler_declarations_read_without_import(self, tmp_path):
        d = tmp_path / "step"
        d.mkdir()
        (d / "1-1.py").write_text("import no_such_module\nTARGET_FUNCTION_NAME = 'target_echo'\n"
                                  "def handler(e, c): ...\n")
        (d / "1-2.py").write_text("NOT_IMPLEMENTED: str = (\n 'needs ' 'hooks')\n")
        (d / "1-3.py").write_text("NOT_IMPLEMENTED = compute()\n")
        (d / "1-4.py").write_text("NOT_IMPLEMENTED = ''\n")
        lang = discovery.LANGUAGES["python"]
        i = discovery.handler_info(tmp_path, self.req("step", "1-1"), lang)
        assert i.handler_file == d / "1-1.py" and i.target_function_name == "target_echo" and i.not_implemented is None
        i = discovery.handler_info(tmp_path, self.req("step", "1-2"), lang)
        assert i.not_implemented == "needs hooks"
        assert "string literal" in discovery.handler_info(tmp_path, self.req("step", "1-3"), lang).problem
        assert "needs a reason" in discovery.handler_info(tmp_path, self.req("step", "1-4"), lang).problem
        i = discovery.handler_info(tmp_path, self.req("step", "1-9"), lang)
        assert i.handler_file is None and i.not_implemented is None and i.problem is None

    def test_suite_level_declaration(self, tmp_path):
        d = tmp_path / "plugin"
        d.mkdir()
        (d / "__init__.py").write_text('NOT_IMPLEMENTED = "no plugin hooks yet"\n')
        (d / "10-2.py").write_text("def handler(e, c): ...\n")
        lang = discovery.LANGUAGES["python"]
        assert discovery.handler_info(tmp_path, self.req("plugin", "10-1"), lang).not_implemented == "no plugin hooks yet"
        i = discovery.handler_info(tmp_path, self.req("plugin", "10-2"), lang)
        assert i.not_implemented is None and i.handler_file == d / "10-2.py"

    def test_node_declarations(self, tmp_path):
        d = tmp_path / "step"
        d.mkdir()
        (d / "1-1.mjs").write_text('export const NOT_IMPLEMENTED = "not yet";\n')
        (d / "1-2.js").write_text("exports.TARGET_FUNCTION_NAME = 'target_slow';\n")
        lang = discovery.LANGUAGES["node"]
        assert discovery.handler_info(tmp_path, self.req("step", "1-1"), lang).not_implemented == "not yet"
        assert discovery.handler_info(tmp_path, self.req("step", "1-2"), lang).target_function_name == "target_slow"

    def test_select_and_order(self, tmp_path):
        for suite, ids in {"step": ["1-10", "1-2", "1-1"], "wait": ["2-1"]}.items():
            (tmp_path / suite).mkdir()
            for i in ids:
                (tmp_path / suite / f"{i}.yaml").write_text("{}")
        reqs = discovery.discover_requirements(tmp_path)
        assert [r.id for r in reqs] == ["1-1", "1-2", "1-10", "2-1"]
        assert [r.name for r in discovery.select(reqs, ["2-1", "step/1-10"])] == ["step/1-10", "wait/2-1"]
        assert len(discovery.select(reqs, ["step"])) == 3
        with pytest.raises(ValueError):
            discovery.select(reqs, ["9-9"])
        assert reqs[0].function_name == "step-1-1"

    def test_targets(self, tmp_path):
        (tmp_path / "_targets").mkdir()
        (tmp_path / "_targets" / "target_echo.py").write_text("")
        assert discovery.target_files(tmp_path, discovery.LANGUAGES["python"]) == {
            "target_echo": tmp_path / "_targets" / "target_echo.py"}


# ---- report --------------------------------------------------------------------------------------------------

def test_report_lines_and_summary():
    outs = [Outcome("step", "1-1", "PASSED", seconds=2.06),
            Outcome("step", "1-2", "FAILED", reason="history: EventId 3: x", details=["a", "b"], seconds=1),
            Outcome("step", "1-7", "OPTIONAL_FAILED", reason="logs: y", seconds=1),
            Outcome("plugin", "10-1", "NOT_IMPLEMENTED", reason="no hooks"),
            Outcome("step", "1-3", "UNCOVERED", reason="no handler")]
    assert format_outcome(outs[0]) == ["PASSED step/1-1 (2.1 s)"]
    assert format_outcome(outs[1]) == ["FAILED step/1-2 (1.0 s): history: EventId 3: x", "    a", "    b"]
    assert format_outcome(outs[3]) == ["NOT_IMPLEMENTED plugin/10-1: no hooks"]
    line, counts = summary(outs)
    assert line == ("1 passed, 2 failed, 2 skipped (failed includes 1 uncovered; "
                    "skipped = 1 not implemented + 1 optional failed)")


# ---- end to end: the real CLI and store, a stand-in worker ---------------------------------------------------

CLI = Path(os.environ.get("PERDURE_CLI") or REPO / "build" / "perdure")
C_WORKER = REPO / "build" / "tests" / "cli_worker"

# Stands in for `python -m perdure worker`: serves every NAME=FILE:handler through build/tests/cli_worker (a C
# durable function: step "prepare", child context "approval-flow" with callback "approval"; result = the
# callback's payload), and prints one SDK-style JSON log line per execution, plus noise. Until SIGTERM.
FAKE_WORKER = r'''
import json, os, signal, subprocess, sys, time
args = sys.argv[1:]
store = args[args.index("--store") + 1]
names = [a.split("=", 1)[0] for a in args if "=" in a]
mode = os.environ.get("FAKE_MODE", "")
running = True
def stop(*_):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
print("fake worker up: " + " ".join(names), flush=True)
if mode == "crash":
    sys.exit(7)
logged = set()
while running:
    for name in names:
        subprocess.run([os.environ["C_WORKER"], store, name], capture_output=True)
        out = subprocess.run([os.environ["PERDURE_CLI"], "--store", store, "--json", "list"], capture_output=True, text=True)
        for ex in json.loads(out.stdout or '{"DurableExecutions": []}')["DurableExecutions"]:
            if ex["DurableExecutionArn"] not in logged:
                logged.add(ex["DurableExecutionArn"])
                print(json.dumps({"executionArn": ex["DurableExecutionArn"], "message": "hello from " + name,
                                  "timestamp": time.time(), "target": os.environ.get("TARGET_FUNCTION_NAME")}),
                      file=sys.stderr, flush=True)
    time.sleep(0.05)
print("fake worker stopping", flush=True)
'''

E2E_HISTORY = """
ExpectedExecutionHistory:
  - EventType: StepStarted
    EventId: 2
    Id: ${STEP1}
    Name: prepare
    StepStartedDetails: {}
  - EventType: StepSucceeded
    EventId: 3
    Id: ${STEP1}
    StepSucceededDetails:
      Result: {Payload: '"prepared"'}
  - EventType: ContextStarted
    EventId: 4
    Id: ${CTX1}
    Name: approval-flow
  - EventType: CallbackStarted
    SubType: Callback
    EventId: 5
    Id: ${CB1}
    ParentId: ${CTX1}
    Name: approval
    CallbackStartedDetails: {CallbackId: '*'}
  - EventType: InvocationCompleted
    EventId: 6
    InvocationCompletedDetails: '*'
"""

E2E_DONE = """
  - EventType: CallbackSucceeded
    EventId: 7
    Id: ${CB1}
    CallbackSucceededDetails:
      Result: {Payload: '"${CB_PAYLOAD}"'}
  - EventType: ContextSucceeded
    EventId: 8
    Id: ${CTX1}
  - EventType: InvocationCompleted
    EventId: 9
  - EventType: ExecutionSucceeded
    EventId: 10
    ExecutionSucceededDetails:
      Result: '*'
"""

E2E_CASES = {
    # async, callback answered by name, result checked, logs checked
    "1-1": """
AsyncInvoke: true
Variables: {CB_PAYLOAD: '${GEN_STR:12}'}
Input: {a: 1}
ExpectedResult: {ExecutionStatus: SUCCEEDED, Result: '${CB_PAYLOAD}'}
CallbackActions:
  - {CallbackName: approval, Operation: success, Payload: '${CB_PAYLOAD}', Delay: 0.2}
ExpectedLogs:
  - match: {message: hello from e2e-1-1, target: target_echo}
    count: 1
""" + E2E_HISTORY + E2E_DONE,
    # async, history-only: never terminal (no CallbackActions, the callback stays open)
    "1-2": "AsyncInvoke: true\nInput:\n" + E2E_HISTORY,
    # wrong expected payload: FAILED with a precise reason
    "1-3": """
AsyncInvoke: true
Input:
ExpectedResult: {ExecutionStatus: SUCCEEDED}
CallbackActions:
  - {CallbackName: '*', Operation: success, Payload: right}
""" + E2E_HISTORY + E2E_DONE.replace("${CB_PAYLOAD}", "wrong"),
    # failure answered; expected status FAILED; optional flag irrelevant when passing
    "1-4": """
AsyncInvoke: true
Input:
ExpectedResult: {ExecutionStatus: FAILED}
CallbackActions:
  - {CallbackName: '${/^appr/}', Operation: failure, Payload: {ErrorType: RejectedError, ErrorMessage: not approved}}
""" + E2E_HISTORY + """
  - EventType: CallbackFailed
    EventId: 7
    Id: ${CB1}
    CallbackFailedDetails:
      Error:
        Payload: {ErrorType: RejectedError, ErrorMessage: not approved}
""",
    # actions exist but none matches: FAILED
    "1-5": "AsyncInvoke: true\nInput:\nExpectedResult: {ExecutionStatus: SUCCEEDED}\n"
           "CallbackActions:\n  - {CallbackName: other, Operation: success}\n" + E2E_HISTORY,
    # optional case that fails: OPTIONAL_FAILED
    "1-6": "optional: true\nAsyncInvoke: true\nInput:\n" + E2E_HISTORY.replace("Name: prepare", "Name: nope"),
    # not implemented, uncovered
    "1-7": "Input:\n" + E2E_HISTORY,
    "1-8": "Input:\n" + E2E_HISTORY,
    # sync case: must end; the execution suspends forever, so the per-case timeout fails it
    "1-9": "Input:\n" + E2E_HISTORY,
}


def _e2e_tree(tmp_path):
    reqs = tmp_path / "requirements" / "e2e"
    reqs.mkdir(parents=True)
    for cid, text in E2E_CASES.items():
        (reqs / f"{cid}.yaml").write_text("---\ndescription: e2e\n" + text)
    handlers = tmp_path / "handlers"
    (handlers / "e2e").mkdir(parents=True)
    for cid in E2E_CASES:
        if cid == "1-7":
            (handlers / "e2e" / f"{cid}.py").write_text('NOT_IMPLEMENTED = "declared gap for the test"\n')
        elif cid != "1-8":
            extra = "TARGET_FUNCTION_NAME = 'target_echo'\n" if cid == "1-1" else ""
            (handlers / "e2e" / f"{cid}.py").write_text(extra + "def handler(event, context):\n    return None\n")
    (handlers / "_targets").mkdir()
    (handlers / "_targets" / "target_echo.py").write_text("def handler(event, context):\n    return event\n")
    worker = tmp_path / "fake_worker.py"
    worker.write_text(FAKE_WORKER)
    return tmp_path / "requirements", handlers, worker


def _run(tmp_path, *args, env_extra=None):
    req, handlers, worker = _e2e_tree(tmp_path)
    env = dict(os.environ, PERDURE_CLI=str(CLI), C_WORKER=str(C_WORKER), **(env_extra or {}))
    cmd = [sys.executable, str(HERE / "run"), "--requirements", str(req), "--handlers", str(handlers),
           "--worker-cmd", f"{sys.executable} {worker}", "--json", str(tmp_path / "out.json"), *args]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    doc = json.loads((tmp_path / "out.json").read_text()) if (tmp_path / "out.json").exists() else None
    return p, doc


needs_engine = pytest.mark.skipif(not (CLI.is_file() and C_WORKER.is_file()),
                                  reason="needs build/perdure and build/tests/cli_worker (ninja -C build)")


@needs_engine
def test_end_to_end(tmp_path):
    p, doc = _run(tmp_path, "--only", "1-1,1-2,1-3,1-4,1-5,1-6,1-7,1-8,1-9", "--timeout", "8", "--jobs", "9")
    assert doc is not None, p.stdout + p.stderr
    by = {c["id"]: c for c in doc["cases"]}
    summary_line = p.stdout.strip().splitlines()[-1]
    assert by["1-1"]["outcome"] == "PASSED", by["1-1"]
    assert by["1-2"]["outcome"] == "PASSED", by["1-2"]
    assert by["1-2"]["seconds"] < 6          # history-only: passes without waiting for an end
    assert by["1-3"]["outcome"] == "FAILED"
    assert by["1-3"]["reason"] == ("history: EventId 7 (CallbackSucceeded).CallbackSucceededDetails.Result.Payload: "
                                   "expected '\"wrong\"', got '\"right\"'")
    assert by["1-4"]["outcome"] == "PASSED", by["1-4"]
    assert by["1-5"]["outcome"] == "FAILED" and by["1-5"]["reason"].startswith("no CallbackAction matches callback 'approval'")
    assert by["1-6"]["outcome"] == "OPTIONAL_FAILED"
    assert by["1-7"]["outcome"] == "NOT_IMPLEMENTED" and by["1-7"]["reason"] == "declared gap for the test"
    assert by["1-8"]["outcome"] == "UNCOVERED"
    assert by["1-9"]["outcome"] == "FAILED" and by["1-9"]["reason"].startswith("the case timed out after 8 s")
    assert summary_line.startswith("3 passed, 4 failed, 2 skipped"), p.stdout
    assert p.returncode == 1
    assert "PASSED e2e/1-1 (" in p.stdout


@needs_engine
def test_end_to_end_worker_crash_and_exit_status(tmp_path):
    p, doc = _run(tmp_path, "--only", "1-2", env_extra={"FAKE_MODE": "crash"})
    (case,) = doc["cases"]
    assert case["outcome"] == "FAILED"
    assert case["reason"] == "the worker exited with status 7 before the execution ended"
    assert any("fake worker up" in d for d in case["details"])
    p, doc = _run(tmp_path / "again", "--only", "1-2,1-7")
    assert p.returncode == 0, p.stdout
    assert p.stdout.strip().splitlines()[-1] == "1 passed, 0 failed, 1 skipped (skipped = 1 not implemented + 0 optional failed)"


@needs_engine
def test_keep_leaves_store_and_log(tmp_path):
    p, doc = _run(tmp_path, "--only", "1-2", "--keep")
    (case,) = doc["cases"]
    kept = Path(case["tmpdir"])
    try:
        assert (kept / "store.db").is_file() and (kept / "worker.log").is_file()
        assert "fake worker stopping" in (kept / "worker.log").read_text()
    finally:
        import shutil
        shutil.rmtree(kept, ignore_errors=True)


def test_event_summary_folds_runs():
    from harness.runner import summarize_events
    events = [ev(1, "ExecutionStarted")] + [ev(i, "InvocationCompleted") for i in range(2, 10)] + [ev(10, "StepStarted")]
    assert summarize_events(events) == "actual: 1 ExecutionStarted, 2-9 InvocationCompleted (x8), 10 StepStarted"
    assert summarize_events([]) == "actual: (no events)"
