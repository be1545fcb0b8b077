"""Every DurableContext operation, run end to end through a real store file,
the lease/worker loop (perdure.run or perdure.Worker) and the C replay VM.

Histories are read back with Store.history(). Timers are skipped with the
store clock of the `durable` harness (conftest.py), so waits and retry delays
cost no real time.

Run: cd bindings/python && python3 -m pytest ../../tests/python/test_context_ops.py -q
"""
from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
import time
from decimal import Decimal

import pytest
from conftest import HangTimeout, event_types, events

import perdure
from perdure import (
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    InvokeError,
    ParallelBranch,
    StepError,
    Store,
    ValidationError,
    WaitForConditionError,
    Worker,
    durable_execution,
    durable_parallel_branch,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
)
from perdure.concurrency.models import BatchItemStatus, BatchResult, CompletionReason
from perdure.config import (
    CallbackConfig,
    ChildConfig,
    CompletionConfig,
    Duration,
    InvokeConfig,
    JitterStrategy,
    MapConfig,
    NestingType,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from perdure.retries import (
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    WithRetryConfig,
    create_retry_strategy,
    with_retry,
)
from perdure.serdes import JsonSerDes, SerDes
from perdure.waits import WaitForConditionConfig, WaitStrategyConfig, create_wait_strategy

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


def fixed(seconds: int, attempts: int, **kw):
    """A jitter-free exponential strategy (rate 1): deterministic delays."""
    return create_retry_strategy(RetryStrategyConfig(max_attempts=attempts, initial_delay=Duration(seconds),
                                                     max_delay=Duration(seconds), backoff_rate=1,
                                                     jitter_strategy=JitterStrategy.NONE, **kw))


def only_arn(store_path: str, function: str) -> str:
    with Store(store_path) as st:
        executions = st.list(function_name=function)
    assert len(executions) == 1, executions
    return executions[0]["DurableExecutionArn"]


# ---------------------------------------------------------------------------
# step
# ---------------------------------------------------------------------------


@durable_step
def add(step_context, a, b):
    return a + b


def test_run_named_unnamed_and_decorated_steps(store_path):
    @durable_execution
    def steps(event, ctx):
        x = ctx.step(lambda sc: event["n"] * 2, name="double")
        y = ctx.step(lambda sc: x + 1)
        z = ctx.step(add(y, 10))
        return {"x": x, "y": y, "z": z}

    assert perdure.run(steps, {"n": 4}, store=store_path) == {"x": 8, "y": 9, "z": 19}
    with Store(store_path) as st:
        arn = only_arn(store_path, "steps")
        assert st.describe(arn)["Status"] == "SUCCEEDED"
        history = st.history(arn)
    assert event_types(history) == ["ExecutionStarted", "StepStarted", "StepSucceeded", "StepStarted",
                                    "StepSucceeded", "StepStarted", "StepSucceeded", "InvocationCompleted",
                                    "ExecutionSucceeded"]
    succeeded = events(history, "StepSucceeded")
    # named, unnamed (a lambda: no Name), @durable_step (the function's name)
    assert [e.get("Name") for e in succeeded] == ["double", None, "add"]
    assert [e["StepSucceededDetails"]["Result"]["Payload"] for e in succeeded] == ["8", "9", "19"]
    assert all(e["SubType"] == "Step" for e in succeeded)
    assert succeeded[0]["StepSucceededDetails"]["RetryDetails"]["CurrentAttempt"] == 1
    assert json.loads(history[-1]["ExecutionSucceededDetails"]["Result"]["Payload"]) == {"x": 8, "y": 9, "z": 19}


def test_step_body_runs_once_and_replays_its_recorded_value(durable):
    runs = []

    @durable_execution
    def handler(event, ctx):
        value = ctx.step(lambda sc: runs.append(sc.attempt) or (Decimal("1.5"), "t"), name="s")
        ctx.wait(Duration.from_minutes(10), name="pause")
        return [str(value[0]), type(value).__name__, type(value[0]).__name__]

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "SUCCEEDED"
    # first run returns the round-tripped value, replay the recorded one: same types
    assert h.result(arn) == ["1.5", "tuple", "Decimal"]
    assert runs == [1]                      # not re-run on replay
    assert h.invocations == 2
    payload = events(h.history(arn), "StepSucceeded")[0]["StepSucceededDetails"]["Result"]["Payload"]
    assert json.loads(payload)["t"] == "t"  # the tagged envelope of a tuple


class UpperSerDes(SerDes):
    """Stores strings upper-cased with a prefix; reads them back lower-cased."""

    calls: list[str] = []

    def serialize(self, value, serdes_context):
        self.calls.append("ser:" + serdes_context.operation_id[:8])
        return json.dumps("CUSTOM:" + value.upper())

    def deserialize(self, data, serdes_context):
        self.calls.append("de")
        return json.loads(data).removeprefix("CUSTOM:").lower() + "!"


def test_step_custom_serdes(durable):
    UpperSerDes.calls = []

    @durable_execution
    def handler(event, ctx):
        v = ctx.step(lambda sc: "Hello", name="s", config=StepConfig(serdes=UpperSerDes()))
        ctx.wait(Duration(5))
        return v

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    # the first run already returns the deserialized value (protocol 7.5.5), and so does replay
    assert h.result(arn) == "hello!"
    payload = events(h.history(arn), "StepSucceeded")[0]["StepSucceededDetails"]["Result"]["Payload"]
    assert payload == '"CUSTOM:HELLO"'
    assert UpperSerDes.calls[0].startswith("ser:")
    assert UpperSerDes.calls.count("de") == 2   # once per invocation


def test_step_retries_with_create_retry_strategy(durable):
    attempts = []

    def flaky(sc):
        attempts.append(sc.attempt)
        if sc.attempt < 3:
            raise ConnectionError(f"flaky attempt {sc.attempt}")
        return "done"

    @durable_execution
    def handler(event, ctx):
        return ctx.step(flaky, name="flaky", config=StepConfig(retry_strategy=fixed(7, attempts=3)))

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == "done"
    assert attempts == [1, 2, 3]
    history = h.history(arn)
    failed = events(history, "StepFailed")
    assert [e["StepFailedDetails"]["RetryDetails"] for e in failed] == [
        {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 7}, {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 7}]
    assert failed[0]["StepFailedDetails"]["Error"]["Payload"] == {"ErrorType": "ConnectionError",
                                                                  "ErrorMessage": "flaky attempt 1"}
    ok = events(history, "StepSucceeded")
    assert ok[0]["StepSucceededDetails"]["RetryDetails"]["CurrentAttempt"] == 3
    # each retry suspends the invocation (protocol 4.7)
    assert len(events(history, "InvocationCompleted")) == 3


def test_step_retries_exhausted_raise_step_error(durable):
    attempts = []

    def always(sc):
        attempts.append(sc.attempt)
        raise ValueError("no luck")

    @durable_execution
    def handler(event, ctx):
        try:
            ctx.step(always, name="always", config=StepConfig(retry_strategy=fixed(1, attempts=2)))
        except StepError as e:
            return {"cls": type(e).__name__, "message": e.message, "type": e.error_type}
        return "unreachable"

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"cls": "StepError", "message": "no luck", "type": "ValueError"}
    assert attempts == [1, 2]
    failed = events(h.history(arn), "StepFailed")
    assert [e["StepFailedDetails"]["RetryDetails"] for e in failed] == [
        {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1}, {"CurrentAttempt": 2}]


def test_uncaught_step_error_fails_the_execution(durable):
    @durable_execution
    def handler(event, ctx):
        ctx.step(lambda sc: 1 / 0, name="div", config=NO_RETRY)

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "StepError"
    assert d["Error"]["ErrorMessage"] == "division by zero"
    assert event_types(h.history(arn))[-2:] == ["InvocationCompleted", "ExecutionFailed"]


@pytest.mark.parametrize(("preset", "expected_attempts"), [
    (RetryPresets.none, 1),
    (lambda: RetryPresets.fixed(Duration(2)), 5),
    (RetryPresets.transient, 3),
    (RetryPresets.critical, 10),
    (None, 6),                      # no strategy: RetryPresets.default()
])
def test_retry_presets_attempt_counts(durable, preset, expected_attempts):
    attempts = []

    def failing(sc):
        attempts.append(sc.attempt)
        raise RuntimeError("down")

    config = StepConfig(retry_strategy=preset()) if preset else StepConfig()

    @durable_execution
    def handler(event, ctx):
        ctx.step(failing, name="p", config=config)

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "StepError"
    assert attempts == list(range(1, expected_attempts + 1))
    delays = [e["StepFailedDetails"]["RetryDetails"].get("NextAttemptDelaySeconds")
              for e in events(h.history(arn), "StepFailed")]
    assert delays[-1] is None and all(d >= 1 for d in delays[:-1])
    if preset is not None and expected_attempts == 5:
        assert delays[:-1] == [2, 2, 2, 2]


def test_retry_filters_skip_non_matching_errors(durable):
    attempts = []

    def body(sc):
        attempts.append(sc.attempt)
        raise (TimeoutError("slow") if sc.attempt == 1 else KeyError("missing"))

    strategy = fixed(1, attempts=5, retryable_error_types=[TimeoutError])

    @durable_execution
    def handler(event, ctx):
        ctx.step(body, name="filtered", config=StepConfig(retry_strategy=strategy))

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert attempts == [1, 2]   # TimeoutError retried, KeyError not
    assert d["Error"]["ErrorType"] == "StepError"
    assert "missing" in d["Error"]["ErrorMessage"]


def test_user_written_retry_strategy(durable):
    seen = []

    def strategy(error: Exception, attempts_made: int) -> RetryDecision:
        seen.append((type(error).__name__, str(error), attempts_made))
        if "again" in str(error) and attempts_made < 3:
            return RetryDecision.retry(Duration(attempts_made * 30))
        return RetryDecision.no_retry()

    def body(sc):
        raise OSError("again" if sc.attempt < 3 else "final")

    @durable_execution
    def handler(event, ctx):
        try:
            ctx.step(body, name="custom", config=StepConfig(retry_strategy=strategy))
        except StepError as e:
            return str(e)

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == "final"
    assert seen == [("OSError", "again", 1), ("OSError", "again", 2), ("OSError", "final", 3)]
    details = [e["StepFailedDetails"]["RetryDetails"] for e in events(h.history(arn), "StepFailed")]
    assert details == [{"CurrentAttempt": 1, "NextAttemptDelaySeconds": 30},
                       {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 60},
                       {"CurrentAttempt": 3}]


def test_at_most_once_step_runs_once_and_retries_normally(durable):
    attempts = []

    def body(sc):
        attempts.append(sc.attempt)
        if sc.attempt == 1:
            raise RuntimeError("first")
        return sc.attempt

    config = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=fixed(1, attempts=3))

    @durable_execution
    def handler(event, ctx):
        v = ctx.step(body, name="amo", config=config)
        ctx.wait(Duration(1))
        return v

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == 2
    assert attempts == [1, 2]
    # at-most-once: each attempt's START is recorded before its body runs
    types = event_types(h.history(arn), name="amo")
    assert types == ["StepStarted", "StepFailed", "StepStarted", "StepSucceeded"]


# ---------------------------------------------------------------------------
# wait
# ---------------------------------------------------------------------------


def test_wait_suspends_and_resumes(durable):
    trace = []

    @durable_execution
    def handler(event, ctx):
        trace.append("before")
        ctx.wait(Duration.from_minutes(5), name="five")
        trace.append("after")
        return "woke"

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == "woke"
    assert trace == ["before", "before", "after"]   # replayed once, after the timer
    history = h.history(arn)
    assert event_types(history) == ["ExecutionStarted", "WaitStarted", "InvocationCompleted", "WaitSucceeded",
                                    "InvocationCompleted", "ExecutionSucceeded"]
    started = events(history, "WaitStarted")[0]
    assert started["Name"] == "five"
    assert started["WaitStartedDetails"]["Duration"] == 300
    assert events(history, "WaitSucceeded")[0]["WaitSucceededDetails"]["Duration"] == 300


def test_run_with_a_real_one_second_wait(store_path):
    @durable_execution
    def sleeper(event, ctx):
        ctx.wait(Duration.from_seconds(1))
        return event

    t0 = time.monotonic()
    assert perdure.run(sleeper, {"k": [1, 2]}, store=store_path) == {"k": [1, 2]}
    assert time.monotonic() - t0 >= 0.9   # the real timer: perdure.run has no skipped clock
    with Store(store_path) as st:
        assert event_types(st.history(only_arn(store_path, "sleeper"))).count("WaitSucceeded") == 1


# ---------------------------------------------------------------------------
# callbacks
# ---------------------------------------------------------------------------


def test_create_callback_answered_from_outside(durable):
    ids = []

    @durable_execution
    def handler(event, ctx):
        cb = ctx.create_callback(name="approval")
        ids.append(cb.callback_id)
        return {"answer": cb.result(), "id": cb.callback_id}

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "RUNNING"                      # suspended, waiting for the answer
    [callback_id] = h.callback_ids(arn)
    assert ids == [callback_id]
    with Store(h.path) as outside:                       # another handle, as another process would
        outside.callback_succeed(callback_id, json.dumps({"ok": True}))
    d = h.run(arn)
    # the default callback serdes returns the raw string (protocol 7.5.2)
    assert h.result(arn) == {"answer": '{"ok": true}', "id": callback_id}
    assert ids == [callback_id, callback_id]            # same id on replay
    history = h.history(arn)
    started = events(history, "CallbackStarted")[0]
    assert started["Name"] == "approval" and started["CallbackStartedDetails"]["CallbackId"] == callback_id
    succeeded = events(history, "CallbackSucceeded")[0]
    assert succeeded["CallbackSucceededDetails"]["Result"]["Payload"] == '{"ok": true}'


def test_callback_failure_raises_callback_external_error(durable):
    @durable_execution
    def handler(event, ctx):
        cb = ctx.create_callback()
        try:
            cb.result()
        except CallbackExternalError as e:
            return {"message": e.message, "type": e.error_type, "data": e.data}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    [callback_id] = h.callback_ids(arn)
    h.store.callback_fail(callback_id, {"ErrorType": "Rejected", "ErrorMessage": "manager said no",
                                        "ErrorData": "{\"by\": \"bob\"}"})
    h.run(arn)
    assert h.result(arn) == {"message": "manager said no", "type": "Rejected", "data": "{\"by\": \"bob\"}"}
    failed = events(h.history(arn), "CallbackFailed")[0]
    assert failed["CallbackFailedDetails"]["Error"]["Payload"]["ErrorMessage"] == "manager said no"


def test_callback_timeout_raises_callback_timeout_error(durable):
    @durable_execution
    def handler(event, ctx):
        cb = ctx.create_callback(name="slow", config=CallbackConfig(timeout=Duration.from_minutes(2)))
        try:
            cb.result()
        except CallbackTimeoutError as e:
            return {"cls": type(e).__name__, "message": str(e)}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    res = h.result(arn)
    assert res["cls"] == "CallbackTimeoutError"
    assert "timed out" in res["message"].lower()
    history = h.history(arn)
    assert events(history, "CallbackStarted")[0]["CallbackStartedDetails"]["Timeout"] == 120
    timed_out = events(history, "CallbackTimedOut")[0]
    assert timed_out["CallbackTimedOutDetails"]["Error"]["Payload"]["ErrorType"] == "Callback.Timeout"


def test_callback_heartbeats_keep_it_alive_and_their_absence_times_it_out(durable):
    @durable_execution
    def handler(event, ctx):
        cb = ctx.create_callback(name="hb", config=CallbackConfig(heartbeat_timeout=Duration(30)))
        try:
            return cb.result()
        except CallbackTimeoutError as e:
            return [type(e).__name__, e.message, e.error_type]

    h = durable({"fn": handler})
    alive = h.start("fn")
    assert h.worker.run_one(0)
    [callback_id] = h.callback_ids(alive)
    for _ in range(3):                        # 60 s in all, never 30 s without a heartbeat
        h.offset_ms += 20_000
        h.store.callback_heartbeat(callback_id)
        assert not h.worker.run_one(0)        # a heartbeat neither re-invokes nor times out
    h.store.callback_succeed(callback_id, '"still here"')
    assert h.run(alive)["Status"] == "SUCCEEDED"
    assert h.result(alive) == '"still here"'
    assert events(h.history(alive), "CallbackStarted")[0]["CallbackStartedDetails"]["HeartbeatTimeout"] == 30

    silent = h.start("fn")
    h.run(silent)                             # the harness skips to the heartbeat deadline
    assert h.result(silent) == ["CallbackTimeoutError", "Callback timed out on heartbeat", "Callback.Heartbeat"]
    timed_out = events(h.history(silent), "CallbackTimedOut")[0]["CallbackTimedOutDetails"]
    assert timed_out["Error"]["Payload"]["ErrorType"] == "Callback.Heartbeat"


def test_stopped_execution_is_not_resumed(durable):
    runs = []

    @durable_execution
    def handler(event, ctx):
        runs.append("invocation")
        ctx.wait(Duration(60))
        return "never"

    h = durable({"fn": handler})
    arn = h.start("fn")
    assert h.worker.run_one(0)
    h.store.stop(arn, {"ErrorType": "Operator", "ErrorMessage": "stopped by the test"})
    d = h.run(arn)
    assert d["Status"] == "STOPPED" and runs == ["invocation"]
    assert h.next_wakeup() == -1              # the wait's timer is gone with it
    stopped = events(h.history(arn), "ExecutionStopped")[0]["ExecutionStoppedDetails"]
    assert stopped["Error"]["Payload"] == {"ErrorType": "Operator", "ErrorMessage": "stopped by the test"}


def test_callback_with_json_serdes(durable):
    @durable_execution
    def handler(event, ctx):
        cb = ctx.create_callback(config=CallbackConfig(serdes=JsonSerDes()))
        value = cb.result()
        return {"type": type(value).__name__, "value": value}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    h.store.callback_succeed(h.callback_ids(arn)[0], '{"n": [1, 2]}')
    h.run(arn)
    assert h.result(arn) == {"type": "dict", "value": {"n": [1, 2]}}


def test_worker_thread_resumes_when_another_handle_answers(store_path):
    """A Worker serving in its own thread is woken by a commit made by another
    Store handle on the same file (no timer: the store's change notification)."""
    got = threading.Event()

    @durable_execution
    def handler(event, ctx):
        cb = ctx.create_callback(name="cb")
        value = cb.result()
        got.set()
        return value

    worker = Worker({"fn": handler}, store_path)
    thread = threading.Thread(target=worker.serve_forever, kwargs={"poll_ms": 200}, daemon=True)
    thread.start()
    try:
        with Store(store_path) as outside:
            arn = outside.start("fn", {})
            deadline = time.monotonic() + 10
            callback_ids = []
            while not callback_ids and time.monotonic() < deadline:
                callback_ids = [op["CallbackDetails"]["CallbackId"] for op in outside.operations(arn)
                                if op["Type"] == "CALLBACK"]
                time.sleep(0.02)
            assert callback_ids, "the worker never started the execution"
            outside.callback_succeed(callback_ids[0], '"from outside"')
            assert got.wait(10)
            while outside.describe(arn)["Status"] == "RUNNING" and time.monotonic() < deadline:
                time.sleep(0.02)
            d = outside.describe(arn)
        assert d["Status"] == "SUCCEEDED" and json.loads(d["Result"]) == '"from outside"'
    finally:
        worker.stop()
        thread.join(5)
        worker.close()
    assert not thread.is_alive()


@durable_wait_for_callback
def ask_human(callback_id, wfc_context, to, sent):
    sent.append((callback_id, to))


def test_wait_for_callback(durable):
    sent = []

    @durable_execution
    def handler(event, ctx):
        return ctx.wait_for_callback(ask_human("alice", sent), config=WaitForCallbackConfig(serdes=JsonSerDes()))

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "RUNNING"
    [callback_id] = h.callback_ids(arn)
    assert sent == [(callback_id, "alice")]
    h.store.callback_succeed(callback_id, '{"approved": true}')
    h.run(arn)
    assert h.result(arn) == {"approved": True}
    assert sent == [(callback_id, "alice")]   # the submitter step is not re-run on replay
    history = h.history(arn)
    ctx_events = events(history, "ContextStarted", "ContextSucceeded")
    assert [(e["EventType"], e["SubType"], e.get("Name")) for e in ctx_events] == [
        ("ContextStarted", "WaitForCallback", "ask_human"), ("ContextSucceeded", "WaitForCallback", "ask_human")]
    wfc_id = ctx_events[0]["Id"]
    assert {e["ParentId"] for e in events(history, "CallbackStarted", "StepStarted", "StepSucceeded")} == {wfc_id}


def test_wait_for_callback_submitter_failure(durable):
    calls = []

    def submitter(callback_id, wfc_context):
        calls.append(callback_id)
        raise PermissionError("mail server refused")

    @durable_execution
    def handler(event, ctx):
        try:
            ctx.wait_for_callback(submitter, name="notify",
                                  config=WaitForCallbackConfig(retry_strategy=fixed(3, attempts=2)))
        except CallbackSubmitterError as e:
            return {"cls": type(e).__name__, "message": e.message, "type": e.error_type}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    res = h.result(arn)
    assert res["cls"] == "CallbackSubmitterError"
    assert "mail server refused" in res["message"]
    assert len(calls) == 2 and len(set(calls)) == 1        # retried once, with the same callback id
    history = h.history(arn)
    assert [e["StepFailedDetails"]["RetryDetails"] for e in events(history, "StepFailed")] == [
        {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 3}, {"CurrentAttempt": 2}]
    assert events(history, "ContextFailed")[0]["SubType"] == "WaitForCallback"


# ---------------------------------------------------------------------------
# wait_for_condition
# ---------------------------------------------------------------------------


def test_wait_for_condition_polls_until_done(durable):
    checks = []

    def check(state, check_context):
        checks.append((state, check_context.attempt))
        return state + 1

    strategy = create_wait_strategy(WaitStrategyConfig(should_continue_polling=lambda s: s < 3,
                                                       initial_delay=Duration(20), backoff_rate=2,
                                                       jitter_strategy=JitterStrategy.NONE))

    @durable_execution
    def handler(event, ctx):
        return ctx.wait_for_condition(check, WaitForConditionConfig(wait_strategy=strategy, initial_state=0),
                                      name="poll")

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == 3
    assert checks == [(0, 1), (1, 2), (2, 3)]
    history = h.history(arn)
    assert event_types(history, name="poll") == ["StepStarted", "StepSucceeded", "StepStarted", "StepSucceeded",
                                                 "StepStarted", "StepSucceeded"]
    details = [e["StepSucceededDetails"] for e in events(history, "StepSucceeded")]
    assert [d["Result"]["Payload"] for d in details] == ["1", "2", "3"]
    assert [d["RetryDetails"].get("NextAttemptDelaySeconds") for d in details] == [20, 40, None]
    assert {e["SubType"] for e in events(history, "StepStarted")} == {"WaitForCondition"}


def test_wait_for_condition_exhausted_and_failing_check(durable):
    strategy = create_wait_strategy(WaitStrategyConfig(should_continue_polling=lambda s: True, max_attempts=2,
                                                       initial_delay=Duration(1)))

    def bad_check(state, check_context):
        raise LookupError("cannot read the sensor")

    @durable_execution
    def handler(event, ctx):
        out = []
        for check in (lambda s, c: s, bad_check):
            try:
                ctx.wait_for_condition(check, WaitForConditionConfig(wait_strategy=strategy, initial_state="x"))
            except WaitForConditionError as e:
                out.append([type(e).__name__, e.message, e.error_type])
        return out

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    exhausted, failed = h.result(arn)
    assert exhausted[0] == "WaitForConditionError" and "exhausted 2 attempts" in exhausted[1]
    assert failed == ["WaitForConditionError", "cannot read the sensor", "LookupError"]


def test_wait_for_condition_requires_check_and_config(durable):
    @durable_execution
    def handler(event, ctx):
        errors = []
        for args in ((None, "cfg"), (lambda s, c: s, None)):
            try:
                ctx.wait_for_condition(*args)
            except ValidationError as e:
                errors.append(str(e))
        return errors

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == ["`check` is required for wait_for_condition",
                             "`config` is required for wait_for_condition"]


# ---------------------------------------------------------------------------
# child contexts
# ---------------------------------------------------------------------------


@durable_with_child_context
def checkout(child, order_id, runs):
    runs.append(order_id)
    price = child.step(lambda sc: 40 + order_id, name="price")
    child.wait(Duration(30), name="cool-down")
    return {"order": order_id, "price": price}


def test_run_in_child_context(durable):
    runs = []

    @durable_execution
    def handler(event, ctx):
        a = ctx.run_in_child_context(checkout(2, runs))
        b = ctx.run_in_child_context(lambda c: c.step(lambda sc: "inner"), name="second")
        ctx.wait(Duration(10), name="after")
        return [a, b]

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == [{"order": 2, "price": 42}, "inner"]
    # the body re-runs while the child is unfinished, not once it SUCCEEDED
    assert runs == [2, 2]
    history = h.history(arn)
    started = events(history, "ContextStarted")
    assert [(e["Name"], e["SubType"]) for e in started] == [("checkout", "RunInChildContext"),
                                                           ("second", "RunInChildContext")]
    child_id = started[0]["Id"]
    inner = [e for e in history if e.get("Name") in ("price", "cool-down")]
    assert inner and {e["ParentId"] for e in inner} == {child_id}
    # a dict is recorded in the official tagged envelope (protocol 3.6)
    assert json.loads(events(history, "ContextSucceeded")[0]["ContextSucceededDetails"]["Result"]["Payload"]) == {
        "t": "m", "v": {"order": {"t": "i", "v": 2}, "price": {"t": "i", "v": 42}}}


def test_child_context_error(durable):
    @durable_execution
    def handler(event, ctx):
        def body(child):
            child.step(lambda sc: "fine", name="ok")
            raise KeyError("no such account")

        try:
            ctx.run_in_child_context(body, name="acct")
        except ChildContextError as e:
            return {"cls": type(e).__name__, "message": e.message, "type": e.error_type,
                    "cause": type(e.__cause__).__name__}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    res = h.result(arn)
    assert res["cls"] == "ChildContextError" and res["type"] == "KeyError"
    assert "no such account" in res["message"]
    failed = events(h.history(arn), "ContextFailed")[0]
    assert failed["Name"] == "acct"
    assert failed["ContextFailedDetails"]["Error"]["Payload"]["ErrorType"] == "KeyError"


def test_uncaught_child_context_error_fails_execution_and_replays_identically(durable):
    @durable_execution
    def handler(event, ctx):
        ctx.run_in_child_context(lambda c: (_ for _ in ()).throw(ArithmeticError("boom")), name="c")

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "ChildContextError"
    assert d["Error"]["ErrorMessage"] == "boom"


def test_child_config_custom_serdes(durable):
    @durable_execution
    def handler(event, ctx):
        v = ctx.run_in_child_context(lambda c: "abc", name="c", config=ChildConfig(serdes=UpperSerDes()))
        ctx.wait(Duration(3))
        return v

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == "abc!" or h.result(arn) == "abc"
    payload = events(h.history(arn), "ContextSucceeded")[0]["ContextSucceededDetails"]["Result"]["Payload"]
    assert payload == '"CUSTOM:ABC"'
    assert h.result(arn) == "abc!"   # replay reads the recorded payload through the serdes


# ---------------------------------------------------------------------------
# map
# ---------------------------------------------------------------------------


def test_map_results_names_and_history(durable):
    @durable_execution
    def handler(event, ctx):
        result = ctx.map(event["items"], lambda c, item, i, items: c.step(lambda sc: item * 10, name="mul"),
                         name="tenfold")
        return {"results": result.get_results(), "reason": result.completion_reason.value,
                "total": result.total_count}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn", {"items": [1, 2, 3]})
    assert h.result(arn) == {"results": [10, 20, 30], "reason": "ALL_COMPLETED", "total": 3}
    history = h.history(arn)
    map_started = events(history, "ContextStarted", name="tenfold")[0]
    assert map_started["SubType"] == "Map"
    iterations = [e for e in events(history, "ContextStarted") if e.get("SubType") == "MapIteration"]
    assert sorted(e["Name"] for e in iterations) == ["map-item-0", "map-item-1", "map-item-2"]
    assert {e["ParentId"] for e in iterations} == {map_started["Id"]}
    assert events(history, "ContextSucceeded", name="tenfold")[0]["SubType"] == "Map"


def test_map_item_namer_and_max_concurrency(durable):
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def body(c, item, i, items):
        def work(sc):
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.02)
            with lock:
                running[0] -= 1
            return item.upper()
        return c.step(work, name="up")

    @durable_execution
    def handler(event, ctx):
        r = ctx.map(["a", "b", "c", "d"], body, name="m",
                    config=MapConfig(max_concurrency=2, item_namer=lambda item, i: f"letter-{item}"))
        return r.get_results()

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == ["A", "B", "C", "D"]
    assert peak[0] <= 2
    names = sorted(e["Name"] for e in events(h.history(arn), "ContextStarted")
                   if e.get("SubType") == "MapIteration")
    assert names == ["letter-a", "letter-b", "letter-c", "letter-d"]


@pytest.mark.hang_limit(60)
def test_map_items_settle_without_stalls(store_path):
    def body(c, item, i, items):
        def work(sc):
            time.sleep(0.01)
            return item
        return c.step(work, name="work")

    @durable_execution
    def handler(event, ctx):
        return ctx.map(list(range(16)), body, name="m").get_results()

    def on_alarm(signum, frame):
        raise HangTimeout("perdure.run of a 16-item map did not return within 5 s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)          # more thread interleavings: the race shows within a few runs
    durations = []
    try:
        for i in range(20):
            signal.setitimer(signal.ITIMER_REAL, 5)
            t0 = time.monotonic()
            try:
                assert perdure.run(handler, name=f"run-{i}", store=store_path) == list(range(16))
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            durations.append(round(time.monotonic() - t0, 2))
    finally:
        sys.setswitchinterval(switch)
        signal.signal(signal.SIGALRM, previous)
    # one run takes about 50 ms; a missed wake-up costs a whole second
    assert max(durations) < 0.8, durations


def _odd_fails(c, item, i, items):
    def body(sc):
        if item % 2:
            raise ValueError(f"odd {item}")
        return item
    return c.step(body, name="check", config=NO_RETRY)


@pytest.mark.parametrize(("completion", "reason", "succeeded", "failed"), [
    (CompletionConfig(), "FAILURE_TOLERANCE_EXCEEDED", None, 1),            # default: fail-fast
    (CompletionConfig.all_completed(), "ALL_COMPLETED", 3, 2),
    (CompletionConfig(tolerated_failure_count=1), "FAILURE_TOLERANCE_EXCEEDED", None, 2),
    (CompletionConfig(tolerated_failure_count=2), "ALL_COMPLETED", 3, 2),
    (CompletionConfig(tolerated_failure_percentage=40), "ALL_COMPLETED", 3, 2),  # exactly at the tolerance
])
def test_map_completion_configs(durable, completion, reason, succeeded, failed):
    @durable_execution
    def handler(event, ctx):
        r = ctx.map([0, 1, 2, 3, 4], _odd_fails, name="m",
                    config=MapConfig(max_concurrency=1, completion_config=completion))
        return {"reason": r.completion_reason.value, "ok": r.success_count, "failed": r.failure_count,
                "errors": [e.message for e in r.get_errors()]}

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    res = h.result(arn)   # failed items never fail the map itself (protocol 4.11)
    assert res["reason"] == reason
    assert res["failed"] == failed
    if succeeded is not None:
        assert res["ok"] == succeeded
    assert all(m.startswith("odd ") for m in res["errors"])
    assert events(h.history(arn), "ContextSucceeded", name="m")


def test_map_first_successful(durable):
    @durable_execution
    def handler(event, ctx):
        r = ctx.map([1, 3, 4, 6], _odd_fails, name="m",
                    config=MapConfig(max_concurrency=1, completion_config=CompletionConfig.first_successful()))
        return {"reason": r.completion_reason.value, "results": r.get_results(), "failed": r.failure_count}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"reason": "MIN_SUCCESSFUL_REACHED", "results": [4], "failed": 2}


def test_map_min_successful_above_item_count_is_rejected_before_any_checkpoint(durable):
    @durable_execution
    def handler(event, ctx):
        try:
            ctx.map([1, 2], _odd_fails, config=MapConfig(completion_config=CompletionConfig(min_successful=3)))
        except ValidationError as e:
            return str(e)

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == "min_successful cannot be greater than total items: 3 > 2"
    assert not events(h.history(arn), "ContextStarted")


def test_map_flat_nesting(durable):
    @durable_execution
    def handler(event, ctx):
        r = ctx.map([1, 2], lambda c, item, i, items: c.step(lambda sc: -item, name=f"neg-{item}"), name="flat",
                    config=MapConfig(nesting_type=NestingType.FLAT))
        return r.get_results()

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == [-1, -2]
    history = h.history(arn)
    contexts = events(history, "ContextStarted")
    assert [(e["Name"], e["SubType"]) for e in contexts] == [("flat", "Map")]   # no MapIteration contexts
    steps = events(history, "StepSucceeded")
    assert sorted(e["Name"] for e in steps) == ["neg-1", "neg-2"]
    assert {e["ParentId"] for e in steps} == {contexts[0]["Id"]}


def test_map_items_suspend_and_resume(durable):
    runs = []

    def body(c, item, i, items):
        runs.append(item)
        c.wait(Duration(60 * (i + 1)), name=f"w{i}")
        return c.step(lambda sc: item + "!", name="bang")

    @durable_execution
    def handler(event, ctx):
        return ctx.map(["x", "y"], body, name="m").get_results()

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == ["x!", "y!"]
    assert runs.count("x") >= 2 and runs.count("y") >= 2


def test_map_items_run_concurrently(durable):
    barrier = threading.Barrier(2, timeout=10)
    threads = set()

    def body(c, item, i, items):
        def meet(sc):
            threads.add(threading.get_ident())
            barrier.wait()       # only returns once both items are inside their steps at the same time
            return item
        return c.step(meet, name="meet", config=NO_RETRY)

    @durable_execution
    def handler(event, ctx):
        r = ctx.map(["left", "right"], body, name="pair")
        return {"results": r.get_results(), "errors": [e.message for e in r.get_errors()]}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"results": ["left", "right"], "errors": []}
    assert len(threads) == 2 and threading.get_ident() not in threads


def test_map_batch_result_round_trips_on_replay(durable):
    @durable_execution
    def handler(event, ctx):
        r = ctx.map([1, 2], lambda c, item, i, items: item * 3, name="m")
        ctx.wait(Duration(2))
        assert isinstance(r, BatchResult)
        return {"all": [(it.index, it.status.value, it.result) for it in r.all],
                "reason": r.completion_reason is CompletionReason.ALL_COMPLETED}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"all": [[0, "SUCCEEDED", 3], [1, "SUCCEEDED", 6]], "reason": True}


def _big_items(c, item, i, items):
    return c.step(lambda sc: str(i) * 100_000, name="big")   # three of them: a map result over 256 KiB


def test_large_map_result_is_rebuilt_from_its_items_on_replay(durable):
    runs = []

    @durable_execution
    def handler(event, ctx):
        r = ctx.map([0, 1, 2], lambda c, item, i, items: runs.append(i) or _big_items(c, item, i, items), name="m")
        ctx.wait(Duration(5))
        return {"lengths": [len(x) for x in r.get_results()], "heads": [x[0] for x in r.get_results()],
                "reason": r.completion_reason.value}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"lengths": [100_000] * 3, "heads": ["0", "1", "2"], "reason": "ALL_COMPLETED"}
    # ReplayChildren: the map is rebuilt from its items' records; each item has a small result of its own,
    # so no item body runs again
    assert sorted(runs) == [0, 1, 2]
    history = h.history(arn)
    assert len(events(history, "StepStarted")) == 3
    payload = events(history, "ContextSucceeded", name="m")[0]["ContextSucceededDetails"]["Result"]["Payload"]
    assert len(payload) < 262_144


@pytest.mark.parametrize("kind", ["map", "parallel"])
def test_large_batch_result_summary_is_the_protocol_envelope(durable, kind):
    @durable_execution
    def handler(event, ctx):
        if kind == "map":
            r = ctx.map([0, 1, 2], _big_items, name="batch")
        else:
            r = ctx.parallel([lambda c, i=i: _big_items(c, None, i, None) for i in range(3)], name="batch")
        return r.success_count

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == 3
    payload = events(h.history(arn), "ContextSucceeded", name="batch")[0]["ContextSucceededDetails"]["Result"]
    envelope = json.loads(payload["Payload"])
    assert envelope["type"] == ("MapResult" if kind == "map" else "ParallelResult")
    assert (envelope["totalCount"], envelope["completionReason"], envelope["startedCount"],
            envelope["successCount"], envelope["failureCount"], envelope["status"]) == (
        3, "ALL_COMPLETED", 0, 3, 0, "SUCCEEDED")
    assert "startedIndexes" in envelope or "completedIndexes" in envelope


def test_large_child_result_reruns_the_body_on_replay(durable):
    runs = []

    @durable_execution
    def handler(event, ctx):
        def body(c):
            runs.append("body")
            return c.step(lambda sc: "q" * 200_000, name="a") + c.step(lambda sc: "q" * 200_000, name="b")

        value = ctx.run_in_child_context(body, name="big", config=ChildConfig(summary_generator=lambda v: "400k"))
        ctx.wait(Duration(5))
        return len(value)

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == 400_000
    assert runs == ["body", "body"]          # protocol 4.11, suite 3-11: ReplayChildren re-enters the body
    history = h.history(arn)
    assert events(history, "ContextSucceeded", name="big")[0]["ContextSucceededDetails"]["Result"]["Payload"] == \
        "400k"                               # the summary stands in for the 400 KB result
    assert len(events(history, "StepStarted")) == 2


def test_map_completed_early_reports_running_items_as_started(durable):
    log = []

    def item(c, kind, i, items):
        if kind == "fast":
            return "fast"
        if kind == "waits":
            c.wait(Duration(60))
            return "waited"

        def slow(sc):
            time.sleep(0.2)
            log.append("slow body returned")
            return "slow"

        value = c.step(slow, name="slow")
        log.append("item went on after the map completed")
        return value

    @durable_execution
    def handler(event, ctx):
        r = ctx.map(["slow", "fast", "waits"], item, name="m",
                    config=MapConfig(completion_config=CompletionConfig.first_successful()))
        return {"reason": r.completion_reason.value, "statuses": [it.status.value for it in r.all],
                "results": r.get_results(), "started": r.started_count}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"reason": "MIN_SUCCESSFUL_REACHED", "statuses": ["STARTED", "SUCCEEDED", "STARTED"],
                             "results": ["fast"], "started": 2}
    time.sleep(0.3)   # the abandoned item's step body ends in its thread, but its result is never recorded
    assert "item went on after the map completed" not in log
    history = h.history(arn)
    assert not events(history, "StepSucceeded", name="slow")
    assert [e["Name"] for e in events(history, "ContextSucceeded") if e["SubType"] == "MapIteration"] == [
        "map-item-1"]


def test_step_retry_inside_map_items(durable):
    attempts = []

    def item(c, x, i, items):
        def body(sc):
            attempts.append((x, sc.attempt))
            if sc.attempt == 1:
                raise RuntimeError(f"{x} failed once")
            return x * 2
        return c.step(body, name="b", config=StepConfig(retry_strategy=fixed(1, attempts=3)))

    @durable_execution
    def handler(event, ctx):
        return ctx.map([1, 2], item, name="m").get_results()

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == [2, 4]
    assert sorted(attempts) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert len(events(h.history(arn), "StepFailed")) == 2


def test_parallel_nested_in_map(durable):
    @durable_execution
    def handler(event, ctx):
        r = ctx.map([1, 2], lambda c, x, i, items: c.parallel(
            [lambda cc: x, lambda cc: cc.step(lambda sc: x * 10, name="tenfold")]).get_results(), name="outer")
        return r.get_results()

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == [[1, 10], [2, 20]]
    history = h.history(arn)
    parallels = [e for e in events(history, "ContextStarted") if e["SubType"] == "Parallel"]
    iterations = {e["Id"] for e in events(history, "ContextStarted") if e["SubType"] == "MapIteration"}
    assert len(parallels) == 2 and {e["ParentId"] for e in parallels} == iterations


# ---------------------------------------------------------------------------
# parallel
# ---------------------------------------------------------------------------


@durable_parallel_branch(name="charge-card")
def charge(ctx, amount):
    return ctx.step(lambda sc: f"charged {amount}", name="charge")


def test_parallel_branches_and_names(durable):
    @durable_execution
    def handler(event, ctx):
        r = ctx.parallel([
            lambda c: c.step(lambda sc: "plain"),
            ParallelBranch(func=lambda c: "named", name="explicit"),
            charge(12),
        ], name="fanout")
        return {"results": r.get_results(), "statuses": [i.status.value for i in r.all]}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"results": ["plain", "named", "charged 12"], "statuses": ["SUCCEEDED"] * 3}
    history = h.history(arn)
    parent = events(history, "ContextStarted", name="fanout")[0]
    assert parent["SubType"] == "Parallel"
    branches = [e for e in events(history, "ContextStarted") if e.get("SubType") == "ParallelBranch"]
    assert sorted(e["Name"] for e in branches) == ["charge-card", "explicit", "parallel-branch-0"]
    assert {e["ParentId"] for e in branches} == {parent["Id"]}


def test_parallel_default_completion_is_all_successful(durable):
    @durable_execution
    def handler(event, ctx):
        def bad(c):
            raise ConnectionRefusedError("branch down")

        r = ctx.parallel([lambda c: 1, bad], config=ParallelConfig(max_concurrency=1))
        out = {"reason": r.completion_reason.value, "failed": r.failure_count}
        try:
            r.throw_if_error()
        except ChildContextError as e:
            out["thrown"] = [type(e).__name__, e.message, e.error_type]
        return out

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"reason": "FAILURE_TOLERANCE_EXCEEDED", "failed": 1,
                             "thrown": ["ChildContextError", "branch down", "ConnectionRefusedError"]}


def test_parallel_branches_run_concurrently(durable):
    barrier = threading.Barrier(2, timeout=10)

    def branch(tag):
        def run(c):
            def meet(sc):
                barrier.wait()
                return tag
            return c.step(meet, name=f"meet-{tag}", config=NO_RETRY)
        return run

    @durable_execution
    def handler(event, ctx):
        r = ctx.parallel([branch("a"), branch("b")], name="both")
        return {"results": r.get_results(), "errors": [e.message for e in r.get_errors()]}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"results": ["a", "b"], "errors": []}


def test_parallel_flat_nesting_and_max_concurrency_zero(durable):
    @durable_execution
    def handler(event, ctx):
        r = ctx.parallel([lambda c: c.step(lambda sc: 1, name="one"), lambda c: c.step(lambda sc: 2, name="two")],
                         name="flat", config=ParallelConfig(nesting_type=NestingType.FLAT))
        return r.get_results()

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == [1, 2]
    assert [e["SubType"] for e in events(h.history(arn), "ContextStarted")] == ["Parallel"]
    with pytest.raises(ValidationError, match="max_concurrency must be at least 1, got: 0"):
        ParallelConfig(max_concurrency=0)


# ---------------------------------------------------------------------------
# invoke
# ---------------------------------------------------------------------------


def test_invoke_another_served_function(durable):
    @durable_execution
    def target(event, ctx):
        doubled = ctx.step(lambda sc: event["n"] * 2, name="double")
        return {"doubled": doubled}

    @durable_execution
    def failing_target(event, ctx):
        raise PermissionError("target refused")

    @durable_execution
    def caller(event, ctx):
        ok = ctx.invoke("target", {"n": 21}, name="call-target")
        try:
            ctx.invoke("failing_target", None, name="call-failing", config=InvokeConfig())
        except InvokeError as e:
            return {"ok": ok, "error": [type(e).__name__, e.message, e.error_type]}

    h = durable({"caller": caller, "target": target, "failing_target": failing_target})
    arn, _ = h.execute("caller")
    res = h.result(arn)
    assert res["ok"] == {"doubled": 42}
    assert res["error"][0] == "InvokeError" and "target refused" in res["error"][1]
    [child] = h.store.list(function_name="target")
    assert child["Status"] == "SUCCEEDED"
    history = h.history(arn)
    started = events(history, "ChainedInvokeStarted", name="call-target")[0]["ChainedInvokeStartedDetails"]
    assert started["FunctionName"] == "target"
    assert json.loads(started["Input"]["Payload"]) == {"n": 21}
    assert started["DurableExecutionArn"] == child["DurableExecutionArn"]
    assert events(history, "ChainedInvokeSucceeded")[0]["Name"] == "call-target"
    assert events(history, "ChainedInvokeFailed")[0]["Name"] == "call-failing"
    # the target ran once: a replay of the caller never invokes it again (protocol 4.10)
    assert len(h.store.list(function_name="target")) == 1


def test_invoke_with_custom_serdes(durable):
    class Wrapping(SerDes):
        def serialize(self, value, serdes_context):
            return json.dumps({"wrapped": value})

        def deserialize(self, data, serdes_context):
            return json.loads(data)["wrapped"]

    @durable_execution
    def target(event, ctx):
        return {"wrapped": {"seen": event}}

    @durable_execution
    def caller(event, ctx):
        return ctx.invoke("target", 5, name="call", config=InvokeConfig(serdes_payload=Wrapping(),
                                                                        serdes_result=Wrapping()))

    h = durable({"caller": caller, "target": target})
    arn, _ = h.execute("caller")
    assert h.result(arn) == {"seen": {"wrapped": 5}}
    started = events(h.history(arn), "ChainedInvokeStarted")[0]["ChainedInvokeStartedDetails"]
    assert started["Input"]["Payload"] == '{"wrapped": 5}'


# ---------------------------------------------------------------------------
# with_retry
# ---------------------------------------------------------------------------


def test_with_retry(durable):
    attempts = []

    def body(ctx, attempt):
        attempts.append(attempt)
        value = ctx.step(lambda sc: attempt, name=f"try-{attempt}")
        if value < 3:
            raise TimeoutError(f"attempt {attempt} timed out")
        return value

    @durable_execution
    def handler(event, ctx):
        return with_retry(ctx, body, WithRetryConfig(retry_strategy=fixed(15, attempts=3)), name="job")

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == 3
    assert sorted(set(attempts)) == [1, 2, 3]
    history = h.history(arn)
    waits = events(history, "WaitStarted")
    assert [(e["Name"], e["WaitStartedDetails"]["Duration"]) for e in waits] == [("job-backoff-1", 15),
                                                                               ("job-backoff-2", 15)]
    job = events(history, "ContextStarted", name="job")[0]
    assert {e["ParentId"] for e in waits} == {job["Id"]}


def test_with_retry_exhausted(durable):
    def body(ctx, attempt):
        raise FileNotFoundError(f"missing #{attempt}")

    @durable_execution
    def handler(event, ctx):
        try:
            with_retry(ctx, body, WithRetryConfig(retry_strategy=fixed(1, attempts=2)), name="job")
        except ChildContextError as e:
            out = {"wrapped": [e.message, e.error_type]}
        try:
            with_retry(ctx, body, WithRetryConfig(retry_strategy=RetryPresets.none(),
                                                  wrap_with_run_in_child_context=False))
        except FileNotFoundError as e:
            out["bare"] = str(e)
        return out

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"wrapped": ["missing #2", "FileNotFoundError"], "bare": "missing #1"}


# ---------------------------------------------------------------------------
# logger, is_replaying, execution_context
# ---------------------------------------------------------------------------


def _json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_logger_writes_json_lines_and_is_silent_during_replay(durable, capfd):
    @durable_execution
    def handler(event, ctx):
        ctx.logger.info("starting %s", "order", extra={"orderId": 7})
        ctx.step(lambda sc: sc.logger.warning("inside step"), name="logged-step")
        ctx.wait(Duration(30))
        ctx.step(lambda sc: None, name="next")
        ctx.logger.error("finished")
        return "ok"

    h = durable({"fn": handler})
    capfd.readouterr()
    arn, _ = h.execute("fn")
    assert h.result(arn) == "ok"
    records = _json_lines(capfd.readouterr().err)
    # each line once, although the first two ran again (replaying) in the second invocation
    assert [(r["level"], r["message"]) for r in records] == [
        ("INFO", "starting order"), ("WARNING", "inside step"), ("ERROR", "finished")]
    assert h.invocations == 2
    assert all(r["executionArn"] == arn and r["durableExecutionArn"] == arn for r in records)
    assert records[0]["orderId"] == 7 and "timestamp" in records[0]
    step_record = records[1]
    assert step_record["operationName"] == "logged-step" and step_record["attempt"] == 1
    assert len(step_record["operationId"]) == 64


def test_log_line_after_the_last_replayed_operation_is_written(durable, capfd):
    @durable_execution
    def handler(event, ctx):
        ctx.wait(Duration(30))
        ctx.logger.info("after the wait")
        return "ok"

    h = durable({"fn": handler})
    capfd.readouterr()
    arn, _ = h.execute("fn")
    assert h.result(arn) == "ok"
    assert [r["message"] for r in _json_lines(capfd.readouterr().err)] == ["after the wait"]


def test_log_line_before_a_pending_callback_and_a_fired_wait_is_written_once(durable, capfd):
    @durable_execution
    def handler(event, ctx):
        cb = ctx.create_callback(name="cb")
        ctx.logger.info("between")
        ctx.wait(Duration(5), name="w")
        return cb.result()

    h = durable({"fn": handler})
    capfd.readouterr()
    arn = h.start("fn")
    h.run_until_idle()                  # invocation 1, then 2 (the wait fired), both suspend on the callback
    h.store.callback_succeed(h.callback_ids(arn)[0], '"yes"')
    h.run(arn)
    assert h.result(arn) == '"yes"'   # the raw body
    assert [r["message"] for r in _json_lines(capfd.readouterr().err)] == ["between"]


def test_logger_of_a_child_context_carries_its_parent_id(durable, capfd):
    @durable_execution
    def handler(event, ctx):
        ctx.run_in_child_context(lambda c: c.logger.info("in child"), name="child")
        ctx.run_in_child_context(lambda c: c.step(lambda sc: sc.logger.info("in child step"), name="s"),
                                 name="other")

    h = durable({"fn": handler})
    capfd.readouterr()
    arn, _ = h.execute("fn")
    records = {r["message"]: r for r in _json_lines(capfd.readouterr().err)}
    history = h.history(arn)
    assert records["in child"]["parentId"] == events(history, "ContextStarted", name="child")[0]["Id"]
    step = events(history, "StepStarted", name="s")[0]
    assert records["in child step"]["parentId"] == step["ParentId"]
    assert records["in child step"]["operationId"] == step["Id"]


def test_logger_of_map_items_carries_their_parent_id(durable, capfd):
    @durable_execution
    def handler(event, ctx):
        ctx.map([0], lambda c, x, i, items: c.logger.info("nested item"), name="nested")
        ctx.map([0], lambda c, x, i, items: c.logger.info("flat item"), name="flat",
                config=MapConfig(nesting_type=NestingType.FLAT))

    h = durable({"fn": handler})
    capfd.readouterr()
    arn, _ = h.execute("fn")
    records = {r["message"]: r for r in _json_lines(capfd.readouterr().err)}
    history = h.history(arn)
    nested_item = [e for e in events(history, "ContextStarted") if e.get("SubType") == "MapIteration"][0]
    assert records["nested item"]["parentId"] == nested_item["Id"]
    assert records["flat item"]["parentId"] == events(history, "ContextStarted", name="flat")[0]["Id"]


def test_is_replaying(durable):
    seen = []

    @durable_execution
    def handler(event, ctx):
        seen.append(("start", ctx.is_replaying()))
        ctx.step(lambda sc: 1, name="a")
        seen.append(("after-a", ctx.is_replaying()))
        ctx.wait(Duration(5))
        seen.append(("after-wait", ctx.is_replaying()))
        ctx.step(lambda sc: 2, name="b")
        seen.append(("after-b", ctx.is_replaying()))
        return None

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "SUCCEEDED"
    # replay lasts until every completed record was visited (as the official SDK)
    assert seen == [("start", False), ("after-a", False),                        # first invocation
                    ("start", True), ("after-a", True), ("after-wait", False), ("after-b", False)]


def test_is_replaying_ends_with_the_last_completed_record(durable):
    seen = []

    @durable_execution
    def handler(event, ctx):
        ctx.wait(Duration(5))
        seen.append(ctx.is_replaying())

    h = durable({"fn": handler})
    h.execute("fn")
    assert seen == [False]


def test_execution_context_and_lambda_context(durable):
    @durable_execution
    def handler(event, ctx):
        return {"arn": ctx.execution_context.durable_execution_arn, "lambda": ctx.lambda_context}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"arn": arn, "lambda": None}


def _h(raw: str) -> str:
    return hashlib.blake2b(raw.encode()).hexdigest()[:64]


def test_operation_ids_follow_the_official_python_scheme(durable):
    """protocol.md 2: Id = blake2b(raw)[:64], raw = n at the root, "<parent Id>-n" in a child, "<batch Id>-i"
    for item i; FLAT items keep their prefix but report to the batch."""

    @durable_execution
    def handler(event, ctx):
        ctx.step(lambda sc: 1)                                                             # root #1
        ctx.run_in_child_context(lambda c: c.step(lambda sc: 2, name="in-child"), name="child")    # root #2
        ctx.map([1, 2], lambda c, x, i, items: c.step(lambda sc: x, name=f"item-step-{i}"), name="m")  # root #3
        ctx.map([1, 2], lambda c, x, i, items: c.step(lambda sc: x, name=f"flat-step-{i}"), name="f",
                config=MapConfig(nesting_type=NestingType.FLAT))                         # root #4
        ctx.wait_for_callback(lambda callback_id, c: None, name="approve")               # root #5

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    started = {e.get("Name"): e for e in h.history(arn) if e["EventType"].endswith("Started") and "Id" in e}
    # the protocol's test vectors
    assert started[None]["Id"] == "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
    assert started["child"]["Id"] == "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"
    assert started["m"]["Id"] == "6f760b9e9eac89f07ab0223b0f4acb04d1e355d893a1b86a83f4d4b405adee99"
    assert started["f"]["Id"] == "e8e70dc170e14333627b32c20ac6051fb9b6bd369c036afbaca2d9cd7ac3de65"
    assert started["map-item-1"]["Id"] == "4fcce65ec00309c63e7973cc7ba98d082f6db23ff491f8ae0d358d94a449573f"
    # the rules
    assert started["in-child"]["Id"] == _h(f"{_h('2')}-1") and started["in-child"]["ParentId"] == _h("2")
    map_id, flat_id = _h("3"), _h("4")
    assert started["map-item-0"]["Id"] == _h(f"{map_id}-0")
    assert started["item-step-0"]["Id"] == _h(f"{_h(f'{map_id}-0')}-1")
    assert started["item-step-0"]["ParentId"] == started["map-item-0"]["Id"]
    assert started["flat-step-1"]["Id"] == _h(f"{_h(f'{flat_id}-1')}-1")
    assert started["flat-step-1"]["ParentId"] == started["f"]["Id"]                    # one level up
    assert "map-item-0" not in {e.get("Name") for e in events(h.history(arn), "ContextStarted")
                                if e.get("ParentId") == started["f"]["Id"]}
    # wait_for_callback: the callback is child 1, the submitter child 2, with the official names
    wfc_id = _h("5")
    assert started["approve"]["Id"] == wfc_id
    assert started["approve create callback id"]["Id"] == _h(f"{wfc_id}-1")
    assert started["approve submitter"]["Id"] == _h(f"{wfc_id}-2")
    assert started["approve submitter"]["ParentId"] == wfc_id


def test_plain_function_served_as_non_durable(durable):
    def plain(event, lambda_context):
        return {"echo": event}

    h = durable({"plain": plain})
    arn, _ = h.execute("plain", [1, "two"])
    assert h.result(arn) == {"echo": [1, "two"]}
