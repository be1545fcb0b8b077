"""Bad input and misuse of the Python SDK: each must end in a clear exception
(or a FAILED execution whose error names the problem), never in a hang, a
crash or a silently wrong result.

Everything runs against a real store file (tmp_path), a real Worker and the C
replay VM; the engine limits checked here are those of core/internal.h
(PD_MAX_STEP_RESULT 262144, PD_MAX_PAYLOAD 6291456, PD_MAX_ERROR_JSON 32768,
PD_MAX_NAME 256, PD_MAX_DURATION 31622400).

Run: cd /work/main && python3 -m pytest tests/python/test_bad_input.py -q
"""
from __future__ import annotations

import json
import threading

import pytest
from conftest import event_types, events

import perdure
from perdure import (
    ExecutionFailedError,
    InvokeError,
    Store,
    ValidationError,
    Worker,
    durable_execution,
)
from perdure.concurrency.models import BatchItemStatus
from perdure.config import CallbackConfig, CompletionConfig, Duration, MapConfig, StepConfig
from perdure.exceptions import InvalidStateError
from perdure.retries import RetryPresets
from perdure.store import ConflictError, NotFoundError, StoreError
from perdure.waits import WaitForConditionConfig, WaitForConditionDecision

STEP_LIMIT = 262144
PAYLOAD_LIMIT = 6291456
NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


def failed_run(handler, input=None, store=None):  # noqa: A002
    with pytest.raises(ExecutionFailedError) as info:
        perdure.run(handler, input, store=store)
    assert info.value.status == "FAILED"
    return info.value.error


# ---------------------------------------------------------------------------
# results and payloads
# ---------------------------------------------------------------------------


def test_non_json_serializable_result_fails_the_execution(store_path):
    @durable_execution
    def returns_a_set(event, ctx):
        ctx.step(lambda sc: 1, name="fine")
        return {"ids": {1, 2}}

    error = failed_run(returns_a_set, store=store_path)
    assert error["ErrorType"] == "ExecutionError"
    assert "the handler's result is not JSON serializable" in error["ErrorMessage"]
    assert "Object of type set is not JSON serializable" in error["ErrorMessage"]
    with Store(store_path) as st:
        [execution] = st.list(function_name="returns_a_set")
        history = st.history(execution["DurableExecutionArn"])
    assert event_types(history)[-2:] == ["InvocationCompleted", "ExecutionFailed"]
    assert history[-1]["ExecutionFailedDetails"]["Error"]["Payload"] == error


def test_batch_result_returned_as_is_names_the_fix(durable):
    @durable_execution
    def handler(event, ctx):
        return ctx.map([1], lambda c, item, i, items: item)

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert "not JSON serializable" in d["Error"]["ErrorMessage"]
    assert "BatchResult.to_dict()" in d["Error"]["ErrorMessage"]


def test_step_result_the_serdes_cannot_encode(durable):
    @durable_execution
    def handler(event, ctx):
        return ctx.step(lambda sc: frozenset({1}), name="frozen")

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "ExecutionError"
    assert "Serialization failed for id" in d["Error"]["ErrorMessage"]
    assert "Unsupported type: <class 'frozenset'>" in d["Error"]["ErrorMessage"]
    assert not events(h.history(arn), "StepSucceeded")


def test_oversized_step_result_is_refused(durable):
    @durable_execution
    def handler(event, ctx):
        return len(ctx.step(lambda sc: "x" * 300_000, name="big"))

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"] == {"ErrorType": "ValidationError",
                          "ErrorMessage": f"step result is 300002 bytes; the limit is {STEP_LIMIT} bytes"}
    assert not events(h.history(arn), "StepSucceeded")


def test_oversized_step_result_can_be_caught_and_the_handler_goes_on(durable):
    @durable_execution
    def handler(event, ctx):
        try:
            ctx.step(lambda sc: ["y" * STEP_LIMIT], name="too-big")
        except ValidationError as e:
            caught = str(e)
        exact = ctx.step(lambda sc: "z" * (STEP_LIMIT - 2), name="at-the-limit")   # 262144 bytes of JSON
        return {"caught": caught, "exact": len(exact)}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == {"caught": f"step result is {STEP_LIMIT + 4} bytes; the limit is {STEP_LIMIT} bytes",
                             "exact": STEP_LIMIT - 2}
    assert [e["Name"] for e in events(h.history(arn), "StepSucceeded")] == ["at-the-limit"]


def test_oversized_wait_for_condition_state_is_refused(durable):
    @durable_execution
    def handler(event, ctx):
        ctx.wait_for_condition(lambda s, c: "s" * 300_000,
                               WaitForConditionConfig(wait_strategy=lambda s, a: WaitForConditionDecision.stop_polling(),
                                                      initial_state=""))

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "ValidationError"
    assert d["Error"]["ErrorMessage"] == f"condition state is 300002 bytes; the limit is {STEP_LIMIT} bytes"


def test_oversized_execution_result(durable):
    @durable_execution
    def too_big(event, ctx):
        return "r" * PAYLOAD_LIMIT          # 6291458 bytes of JSON

    @durable_execution
    def large(event, ctx):
        return "r" * (PAYLOAD_LIMIT - 40)   # over the 6 MiB - 50 inline limit: goes through a checkpoint (4.12)

    h = durable({"too_big": too_big, "large": large})
    arn, d = h.execute("too_big")
    assert d["Status"] == "FAILED"
    assert d["Error"] == {"ErrorType": "ValidationError",
                          "ErrorMessage": f"execution result is {PAYLOAD_LIMIT + 2} bytes; "
                                          f"the limit is {PAYLOAD_LIMIT} bytes"}
    arn, d = h.execute("large")
    assert d["Status"] == "SUCCEEDED"
    assert len(json.loads(d["Result"])) == PAYLOAD_LIMIT - 40


def test_oversized_error_object_is_refused(durable):
    @durable_execution
    def handler(event, ctx):
        def body(sc):
            raise ValueError("e" * 40_000)
        ctx.step(body, name="loud", config=NO_RETRY)

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "ValidationError"
    assert d["Error"]["ErrorMessage"].startswith("error object is ")
    assert d["Error"]["ErrorMessage"].endswith("bytes of JSON; the limit is 32768")


def test_invalid_json_input_fails_the_execution(durable):
    @durable_execution
    def handler(event, ctx):
        return event

    h = durable({"fn": handler})
    arn = h.store.start("fn", input_json="{not json")
    d = h.run(arn)
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "ExecutionError"
    assert d["Error"]["ErrorMessage"].startswith("the execution input is not valid JSON: ")


def test_store_refuses_bad_starts(store_path):
    with Store(store_path) as st:
        with pytest.raises(StoreError, match=r"must be 1 to 64 characters of \[a-zA-Z0-9-_\]"):
            st.start("fn", {}, name="not a valid name!")
        with pytest.raises(StoreError, match=r"must be 1 to 64 characters"):
            st.start("", {})
        with pytest.raises(StoreError, match=f"the input must be UTF-8 text of at most {PAYLOAD_LIMIT} bytes"):
            st.start("fn", "i" * PAYLOAD_LIMIT)
        with pytest.raises(NotFoundError, match="no execution arn:nope"):
            st.describe("arn:nope")
        assert st.list() == []
        with pytest.raises(ValueError, match="a Worker needs at least one function"):
            Worker({}, st)


# ---------------------------------------------------------------------------
# callbacks answered from the outside
# ---------------------------------------------------------------------------


@durable_execution
def waits_for_callback(event, ctx):
    return ctx.create_callback(name="cb", config=CallbackConfig(serdes=None)).result()


@pytest.mark.parametrize("callback_id", ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not a callback id!", ""])
def test_unknown_callback_id(store_path, callback_id):
    with Store(store_path) as st:
        for answer in (lambda: st.callback_succeed(callback_id, '"x"'),
                       lambda: st.callback_fail(callback_id, {"ErrorMessage": "no"}),
                       lambda: st.callback_heartbeat(callback_id)):
            with pytest.raises(NotFoundError) as info:
                answer()
            assert str(info.value) == f"no callback with id {callback_id}"
            assert info.value.status == "PERDURE_E_NOT_FOUND"


def test_callback_answered_twice(durable):
    h = durable({"fn": waits_for_callback})
    arn, d = h.execute("fn")
    assert d["Status"] == "RUNNING"
    [callback_id] = h.callback_ids(arn)
    h.store.callback_heartbeat(callback_id)                 # a heartbeat is no answer
    h.store.callback_succeed(callback_id, '"first"')
    for again in (lambda: h.store.callback_succeed(callback_id, '"second"'),
                  lambda: h.store.callback_fail(callback_id, {"ErrorMessage": "late"}),
                  lambda: h.store.callback_heartbeat(callback_id)):
        with pytest.raises(ConflictError) as info:
            again()
        assert str(info.value) == f"callback {callback_id} has already completed (SUCCEEDED)"
        assert info.value.status == "PERDURE_E_CONFLICT"
    h.run(arn)
    assert h.result(arn) == '"first"'                        # the first answer won
    assert len(events(h.history(arn), "CallbackSucceeded", "CallbackFailed")) == 1


def test_callback_failed_then_succeeded(durable):
    h = durable({"fn": waits_for_callback})
    arn, _ = h.execute("fn")
    [callback_id] = h.callback_ids(arn)
    h.store.callback_fail(callback_id, {"ErrorType": "No", "ErrorMessage": "refused"})
    with pytest.raises(ConflictError, match=r"has already completed \(FAILED\)"):
        h.store.callback_succeed(callback_id, '"too late"')
    d = h.run(arn)
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "CallbackExternalError" and d["Error"]["ErrorMessage"] == "refused"


def test_oversized_callback_answer_is_refused_and_the_callback_stays_open(durable):
    h = durable({"fn": waits_for_callback})
    arn, _ = h.execute("fn")
    [callback_id] = h.callback_ids(arn)
    with pytest.raises(StoreError) as info:
        h.store.callback_succeed(callback_id, "x" * (STEP_LIMIT + 1))
    assert info.value.status == "PERDURE_E_TOO_LARGE"
    assert str(info.value) == f"the callback result is {STEP_LIMIT + 1} bytes, more than {STEP_LIMIT}"
    h.store.callback_succeed(callback_id, "x" * STEP_LIMIT)   # exactly the limit is fine
    h.run(arn)
    assert h.result(arn) == "x" * STEP_LIMIT


def test_callback_of_a_stopped_execution(durable):
    h = durable({"fn": waits_for_callback})
    arn, _ = h.execute("fn")
    [callback_id] = h.callback_ids(arn)
    h.store.stop(arn, {"ErrorMessage": "stopped by the test"})
    with pytest.raises(ConflictError, match="the execution is STOPPED"):
        h.store.callback_succeed(callback_id, '"x"')
    with pytest.raises(ConflictError, match=r"has already ended \(STOPPED\)"):
        h.store.stop(arn)
    assert h.run(arn)["Status"] == "STOPPED"


# ---------------------------------------------------------------------------
# contexts used where they must not be
# ---------------------------------------------------------------------------


def test_context_used_from_another_thread(durable):
    errors = []

    @durable_execution
    def handler(event, ctx):
        def other():
            try:
                ctx.step(lambda sc: "from another thread", name="foreign")
            except InvalidStateError as e:
                errors.append(str(e))
            try:
                ctx.wait(Duration(1))
            except InvalidStateError as e:
                errors.append(str(e))

        t = threading.Thread(target=other)
        t.start()
        t.join()
        return ctx.step(lambda sc: "owner thread still works", name="own")

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    assert h.result(arn) == "owner thread still works"
    assert len(errors) == 2
    assert all(e.startswith("DurableContext used from a thread that does not own it") for e in errors)
    assert [e.get("Name") for e in events(h.history(arn), "StepStarted", "WaitStarted")] == ["own"]


def test_parent_context_used_inside_a_map_item(durable):
    @durable_execution
    def handler(event, ctx):
        def item(child, value, i, items):
            return ctx.step(lambda sc: value, name="parent-op")     # the parent's context, from the item thread

        r = ctx.map([1], item, name="m", config=MapConfig(completion_config=CompletionConfig.all_completed()))
        [only] = r.all
        return {"status": only.status.value, "type": only.error.type, "message": only.error.message}

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    res = h.result(arn)
    assert res["status"] == BatchItemStatus.FAILED.value
    assert res["type"] == "InvalidStateError"
    assert res["message"].startswith("DurableContext used from a thread that does not own it")


leaked = []


@durable_execution
def leaks_its_context(event, ctx):
    leaked.append(ctx)
    ctx.run_in_child_context(lambda child: leaked.append(child), name="child")
    try:
        leaked[-1].step(lambda sc: 1, name="late-child-op")
    except InvalidStateError as e:
        return str(e)


def test_context_used_after_the_handler_returned(durable):
    leaked.clear()
    h = durable({"fn": leaks_its_context})
    arn, _ = h.execute("fn")
    # a child context whose body returned refuses operations at once
    assert h.result(arn) == ("declaring an operation: the context has finished (its body already returned)")
    root, child = leaked
    for ctx in (root, child):
        with pytest.raises(InvalidStateError, match="belongs to an invocation that has already ended"):
            ctx.step(lambda sc: 1, name="too-late")
        with pytest.raises(InvalidStateError, match="contexts cannot be used after the handler returned"):
            ctx.wait(Duration(1))
        with pytest.raises(InvalidStateError):
            ctx.create_callback()
        with pytest.raises(InvalidStateError):
            ctx.map([1], lambda c, item, i, items: item)
    assert [e.get("Name") for e in events(h.history(arn), "StepStarted")] == []


def test_operation_inside_a_step_body_is_refused(durable):
    """A step body is not a context: an operation it called (through a
    captured DurableContext) would be recorded on the first run but not found
    on replay, since the body is not re-run. It is refused at once, and the
    execution fails naming the step, without retrying the misuse."""

    @durable_execution
    def handler(event, ctx):
        value = ctx.step(lambda sc: ctx.step(lambda inner: 1, name="inner") + 1, name="outer")
        ctx.wait(Duration(3))
        return ctx.step(lambda sc: value, name="after")

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "InvalidStateError"
    assert 'inside the body of step "outer"' in d["Error"]["ErrorMessage"]
    assert not events(h.history(arn), "StepStarted", name="inner")
    assert not events(h.history(arn), "StepFailed", name="outer"), "misuse is not a step failure to retry"
    assert not events(h.history(arn), "StepStarted", name="after")


# ---------------------------------------------------------------------------
# non-deterministic replay
# ---------------------------------------------------------------------------

invocation_counter = {"n": 0}


@durable_execution
def renames_its_step(event, ctx):
    invocation_counter["n"] += 1
    ctx.step(lambda sc: 1, name=f"step-{invocation_counter['n']}")
    ctx.wait(Duration(60))
    return "unreachable"


def test_non_deterministic_step_name(durable):
    invocation_counter["n"] = 0
    h = durable({"fn": renames_its_step})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"]["ErrorType"] == "NonDeterministicExecutionError"
    message = d["Error"]["ErrorMessage"]
    assert message.startswith("non-deterministic replay: operation #1 in context \"\"")
    assert 'was recorded as STEP/Step "step-1" but this run declared STEP/Step "step-2"' in message
    assert event_types(h.history(arn)) == ["ExecutionStarted", "StepStarted", "StepSucceeded", "WaitStarted",
                                           "InvocationCompleted", "WaitSucceeded", "InvocationCompleted",
                                           "ExecutionFailed"]


def test_non_deterministic_operation_type_and_order(durable):
    runs = {"type": 0, "skip": 0}

    @durable_execution
    def changes_type(event, ctx):
        runs["type"] += 1
        if runs["type"] == 1:
            ctx.step(lambda sc: 1, name="x")
        else:
            ctx.wait(Duration(1), name="x")
        ctx.wait(Duration(5))

    @durable_execution
    def skips_a_step(event, ctx):
        runs["skip"] += 1
        if runs["skip"] == 1:
            ctx.step(lambda sc: 1, name="only-once")
        ctx.run_in_child_context(lambda c: c.wait(Duration(5), name="w"), name="child")

    h = durable({"changes_type": changes_type, "skips_a_step": skips_a_step})
    arn, d = h.execute("changes_type")
    assert d["Error"]["ErrorType"] == "NonDeterministicExecutionError"
    assert 'was recorded as STEP/Step "x" but this run declared WAIT/Wait "x"' in d["Error"]["ErrorMessage"]
    arn, d = h.execute("skips_a_step")
    assert d["Error"]["ErrorType"] == "NonDeterministicExecutionError"
    assert ('was recorded as STEP/Step "only-once" but this run declared CONTEXT/RunInChildContext "child"'
            in d["Error"]["ErrorMessage"])


def test_non_deterministic_replay_inside_a_child_context(durable):
    runs = [0]

    @durable_execution
    def handler(event, ctx):
        runs[0] += 1

        def body(child):
            child.step(lambda sc: 1, name="a" if runs[0] == 1 else "b")
            child.wait(Duration(5))

        ctx.run_in_child_context(body, name="parent-ctx")

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Error"]["ErrorType"] == "NonDeterministicExecutionError"
    child_id = events(h.history(arn), "ContextStarted")[0]["Id"]
    message = d["Error"]["ErrorMessage"]
    assert f'operation #1 in context "{child_id}"' in message
    assert 'was recorded as STEP/Step "a" but this run declared STEP/Step "b"' in message


# ---------------------------------------------------------------------------
# invalid names, durations and configurations
# ---------------------------------------------------------------------------


def test_invalid_durations_and_names_raise_validation_error(durable):
    @durable_execution
    def handler(event, ctx):
        attempts = {
            "wait 0": lambda: ctx.wait(Duration(0)),
            "wait from_seconds(0.5)": lambda: ctx.wait(Duration.from_seconds(0.5)),
            "wait over a year": lambda: ctx.wait(Duration(31622401)),
            "name too long": lambda: ctx.step(lambda sc: 1, name="n" * 257),
            "control character": lambda: ctx.step(lambda sc: 1, name="bad\x01name"),
            "non-ASCII": lambda: ctx.wait(Duration(1), name="ünïcode"),
            "callback timeout over a year": lambda: ctx.create_callback(
                config=CallbackConfig(timeout=Duration(31622401))),
            "negative callback timeout": lambda: ctx.create_callback(
                config=CallbackConfig(timeout=Duration.from_seconds(-5))),
        }
        out = {}
        for what, attempt in attempts.items():
            try:
                attempt()
                out[what] = "accepted"
            except ValidationError as e:
                out[what] = str(e)
        out["max name"] = ctx.step(lambda sc: "ok", name="n" * 256)
        return out

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    res = h.result(arn)
    assert res["wait 0"] == "duration must be at least 1 second"
    assert res["wait from_seconds(0.5)"] == "duration must be at least 1 second"
    assert res["wait over a year"] == "wait duration must be 1..31622400 seconds, got 31622401"
    assert res["callback timeout over a year"] == "callback timeout must be 0..31622400 seconds, got 31622401"
    assert res["name too long"] == "operation name must be 1..256 characters, got 257"
    assert res["control character"] == 'operation name "bad\x01name" has a character outside printable ASCII at 3'
    assert res["non-ASCII"].endswith("has a character outside printable ASCII at 0")
    assert res["negative callback timeout"] == "Duration seconds must be positive"
    assert res["max name"] == "ok"
    # nothing invalid was recorded
    names = [e.get("Name") for e in h.history(arn) if e["EventType"].endswith("Started") and "Name" in e]
    assert names == ["n" * 256]


def test_uncaught_validation_error_fails_the_execution(durable):
    @durable_execution
    def handler(event, ctx):
        ctx.wait(Duration(0))

    h = durable({"fn": handler})
    arn, d = h.execute("fn")
    assert d["Status"] == "FAILED"
    assert d["Error"] == {"ErrorType": "ValidationError", "ErrorMessage": "duration must be at least 1 second"}
    assert not events(h.history(arn), "WaitStarted")


def test_invalid_configurations():
    with pytest.raises(ValidationError, match="Duration seconds must be positive"):
        Duration(-1)
    with pytest.raises(ValidationError, match="max_concurrency must be at least 1, got: 0"):
        MapConfig(max_concurrency=0)
    with pytest.raises(ValidationError, match="min_successful must be at least 1, got: 0"):
        CompletionConfig(min_successful=0)
    with pytest.raises(ValidationError, match="tolerated_failure_count must be non-negative, got: -1"):
        CompletionConfig(tolerated_failure_count=-1)
    with pytest.raises(ValidationError, match="tolerated_failure_percentage must be between 0 and 100, got: 101"):
        CompletionConfig(tolerated_failure_percentage=101)


def test_invalid_invoke_target(durable):
    @durable_execution
    def handler(event, ctx):
        try:
            ctx.invoke("not a function name!", {})
        except InvokeError as e:
            return [type(e).__name__, e.error_type, e.message]

    h = durable({"fn": handler})
    arn, _ = h.execute("fn")
    # refused by the service, as AWS does: the invoke fails, the caller can catch it
    assert h.result(arn) == ["InvokeError", "InvalidParameterValueException",
                             "Invalid function name: not a function name!"]
    assert event_types(h.history(arn))[1:4] == ["ChainedInvokeStarted", "InvocationCompleted", "ChainedInvokeFailed"]


def test_handler_exception_fails_the_execution_with_its_type_and_message(store_path):
    class OrderRejected(Exception):
        pass

    @durable_execution
    def rejects(event, ctx):
        raise OrderRejected(f"order {event['id']} rejected")

    assert failed_run(rejects, {"id": 7}, store=store_path) == {"ErrorType": "OrderRejected",
                                                                "ErrorMessage": "order 7 rejected"}
