"""perdure.testing: DurableFunctionTestRunner (the official testing library's
runner, in-process on a store whose clock it skips) and the durable_runner
pytest fixture."""
from __future__ import annotations

import datetime
import json
import sys
import threading
import time
from pathlib import Path

import pytest

_BINDING = Path(__file__).resolve().parents[2] / "bindings" / "python"
if str(_BINDING) not in sys.path:
    sys.path.insert(0, str(_BINDING))

from perdure import (  # noqa: E402
    CallbackExternalError,
    CallbackTimeoutError,
    InvokeError,
    durable_execution,
    durable_with_child_context,
)
from perdure.config import CallbackConfig, Duration, StepConfig, WaitForCallbackConfig  # noqa: E402
from perdure.exceptions import ErrorObject  # noqa: E402
from perdure.retries import RetryStrategyConfig, create_retry_strategy  # noqa: E402
from perdure.testing import (  # noqa: E402
    CallbackOperation,
    ContextOperation,
    DurableChildContextTestRunner,
    DurableFunctionsTestError,
    DurableFunctionTestResult,
    DurableFunctionTestRunner,
    InvalidParameterValueException,
    InvocationStatus,
    InvokeOperation,
    OperationStatus,
    OperationSubType,
    OperationType,
    ResourceNotFoundException,
    StepOperation,
    WaitOperation,
)
from perdure.testing.pytest_plugin import durable_runner  # noqa: E402, F401  (the plugin's fixture)
from perdure.waits import WaitForConditionConfig, WaitForConditionDecision  # noqa: E402

# Every duration skipped below is a minute or more: a run that slept through one
# would take at least that; this bound stays loose for a loaded machine.
NOT_SLEPT = 30  # seconds

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def runner_of():
    """runner_of(handler, **options) -> a runner closed at teardown."""
    made: list[DurableFunctionTestRunner] = []

    def make(handler, **options) -> DurableFunctionTestRunner:
        runner = DurableFunctionTestRunner(handler, **options)
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


# ---------------------------------------------------------------------------
# time skipping
# ---------------------------------------------------------------------------


@durable_execution
def one_hour_nap(event, context):
    before = context.step(lambda _: "before", name="before")
    context.wait(Duration.from_hours(1), name="nap")
    after = context.step(lambda _: "after", name="after")
    return {"event": event, "steps": [before, after]}


def test_a_one_hour_wait_takes_no_time(runner_of):
    runner = runner_of(one_hour_nap)
    started = time.monotonic()
    result = runner.run(input={"order": 7})
    assert time.monotonic() - started < NOT_SLEPT
    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {"event": {"order": 7}, "steps": ["before", "after"]}
    assert result.error is None
    nap = result.get_wait("nap")
    assert isinstance(nap, WaitOperation)
    assert nap.operation_type is OperationType.WAIT and nap.sub_type is OperationSubType.WAIT
    assert nap.status is OperationStatus.SUCCEEDED
    # the history keeps the modelled duration; only the clock was skipped
    assert nap.scheduled_end_timestamp - nap.start_timestamp == HOUR
    # the clock keeps running after a skip: the timer fires at or just after its due time
    assert nap.scheduled_end_timestamp <= nap.end_timestamp < nap.scheduled_end_timestamp + datetime.timedelta(
        seconds=NOT_SLEPT)
    assert runner.clock.skipped >= HOUR - datetime.timedelta(seconds=1)
    assert result.get_step("after").start_timestamp >= nap.scheduled_end_timestamp


def test_run_is_a_context_manager_and_runs_twice(runner_of):
    with DurableFunctionTestRunner(one_hour_nap) as runner:
        first = runner.run(input={"n": 1})
        second = runner.run(input={"n": 2})
    assert json.loads(first.result)["event"] == {"n": 1}
    assert json.loads(second.result)["event"] == {"n": 2}
    assert first.execution_arn != second.execution_arn
    with pytest.raises(DurableFunctionsTestError, match="closed"):
        runner.run()
    runner.close()   # idempotent


def test_store_file_and_cleanup(tmp_path):
    kept = tmp_path / "kept.db"
    with DurableFunctionTestRunner(one_hour_nap, store=str(kept)) as runner:
        arn = runner.run().execution_arn
    assert kept.exists()
    with DurableFunctionTestRunner(one_hour_nap, store=kept) as again:   # the same store, reopened
        assert again.describe(arn)["Status"] == "SUCCEEDED"
        assert again.result(arn).get_wait("nap").status is OperationStatus.SUCCEEDED
    temporary = DurableFunctionTestRunner(one_hour_nap)
    temporary.run()
    temporary.close()
    assert not Path(temporary.store_path).parent.exists()
    with pytest.raises(InvalidParameterValueException):
        DurableFunctionTestRunner(one_hour_nap, store=":memory:")


def test_run_timeout_is_deprecated_as_in_the_official_runner(runner_of):
    with pytest.warns(DeprecationWarning, match="execution_timeout"):
        result = runner_of(one_hour_nap).run(timeout=30)
    assert result.status is InvocationStatus.SUCCEEDED


def test_retry_delays_are_skipped(runner_of):
    attempts = []

    def flaky(step_context):
        attempts.append(step_context.attempt)
        if len(attempts) < 3:
            raise ConnectionError(f"attempt {len(attempts)} failed")
        return "connected"

    retry = create_retry_strategy(RetryStrategyConfig(max_attempts=5, initial_delay=Duration.from_minutes(10),
                                                      max_delay=Duration.from_minutes(30)))

    @durable_execution
    def handler(event, context):
        return context.step(flaky, name="connect", config=StepConfig(retry_strategy=retry))

    runner = runner_of(handler)
    started = time.monotonic()
    result = runner.run()
    assert time.monotonic() - started < NOT_SLEPT
    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == "connected"
    step = result.get_step("connect")
    assert isinstance(step, StepOperation)
    assert step.status is OperationStatus.SUCCEEDED and step.result == '"connected"'
    assert step.attempt == 3 and len(attempts) == 3
    # two retry delays were skipped (full jitter: each between 1 s and its cap)
    assert runner.clock.skipped >= datetime.timedelta(seconds=2)
    assert runner.invocations >= 3


def test_retries_exhausted_fail_the_execution(runner_of):
    @durable_execution
    def handler(event, context):
        def always(_):
            raise RuntimeError("still down")
        return context.step(always, name="doomed", config=StepConfig(
            retry_strategy=create_retry_strategy(RetryStrategyConfig(max_attempts=3,
                                                                     initial_delay=Duration.from_hours(1)))))

    result = runner_of(handler).run()
    assert result.status is InvocationStatus.FAILED
    assert result.error.type == "StepError"
    assert "still down" in result.error.message
    step = result.get_step("doomed")
    assert step.status is OperationStatus.FAILED
    assert step.error.type == "RuntimeError" and step.error.message == "still down"


def test_wait_for_condition_polls_are_skipped(runner_of):
    @durable_execution
    def handler(event, context):
        def check(state, check_context):
            return state + 1

        def strategy(state, attempt):
            return WaitForConditionDecision(should_continue=state < 5, delay=Duration.from_minutes(30))

        return context.wait_for_condition(check, WaitForConditionConfig(wait_strategy=strategy, initial_state=0),
                                          name="poll")

    runner = runner_of(handler)
    started = time.monotonic()
    result = runner.run()
    assert time.monotonic() - started < NOT_SLEPT
    assert json.loads(result.result) == 5
    assert runner.clock.skipped >= datetime.timedelta(hours=2) - datetime.timedelta(seconds=1)


def test_skip_time_off_waits_for_real(runner_of):
    @durable_execution
    def handler(event, context):
        context.wait(Duration.from_seconds(1), name="short")
        return "done"

    runner = runner_of(handler, skip_time=False)
    started = time.monotonic()
    result = runner.run()
    assert time.monotonic() - started >= 0.9
    assert result.status is InvocationStatus.SUCCEEDED
    assert runner.clock.skipped == datetime.timedelta(0)


# ---------------------------------------------------------------------------
# callbacks
# ---------------------------------------------------------------------------


def test_callback_timeout_is_skipped_and_surfaces_as_callback_timeout_error(runner_of):
    @durable_execution
    def handler(event, context):
        callback = context.create_callback(name="approval",
                                           config=CallbackConfig(timeout=Duration.from_hours(24)))
        return callback.result()

    runner = runner_of(handler)
    started = time.monotonic()
    result = runner.run()
    assert time.monotonic() - started < NOT_SLEPT
    assert result.status is InvocationStatus.FAILED
    assert result.error.type == "CallbackTimeoutError"
    assert result.error.message == "Callback timed out"
    approval = result.get_callback("approval")
    assert isinstance(approval, CallbackOperation)
    assert approval.status is OperationStatus.TIMED_OUT
    assert approval.callback_id
    assert approval.error.type == "Callback.Timeout"
    assert approval.end_timestamp - approval.start_timestamp == datetime.timedelta(hours=24)


def test_caught_callback_timeout_and_heartbeat_timeout(runner_of):
    @durable_execution
    def handler(event, context):
        outcomes = []
        for name, config in (("plain", CallbackConfig(timeout=Duration.from_minutes(5))),
                             ("beat", CallbackConfig(timeout=Duration.from_hours(2),
                                                     heartbeat_timeout=Duration.from_minutes(1)))):
            try:
                context.create_callback(name=name, config=config).result()
            except CallbackTimeoutError as e:
                outcomes.append([name, type(e).__name__, e.message, e.error_type])
        return outcomes

    runner = runner_of(handler)
    started = time.monotonic()
    result = runner.run()
    assert time.monotonic() - started < NOT_SLEPT
    assert json.loads(result.result) == [
        ["plain", "CallbackTimeoutError", "Callback timed out", "Callback.Timeout"],
        ["beat", "CallbackTimeoutError", "Callback timed out on heartbeat", "Callback.Heartbeat"],
    ]
    beat = result.get_callback("beat")
    assert datetime.timedelta(minutes=1) <= beat.end_timestamp - beat.start_timestamp < datetime.timedelta(minutes=1,
                                                                                                      seconds=1)


@durable_execution
def approval_flow(event, context):
    callback = context.create_callback(name="approval", config=CallbackConfig(timeout=Duration.from_minutes(5)))
    answer = callback.result()
    context.wait(Duration.from_hours(2), name="cool-down")
    return {"answer": json.loads(answer), "for": event}


def test_wait_for_callback_and_send_callback_success(runner_of):
    runner = runner_of(approval_flow)
    started = time.monotonic()
    arn = runner.run_async(input={"order": 1})
    callback_id = runner.wait_for_callback(arn, name="approval", timeout=10)
    # while the test may still answer, the callback's timeout runs in real time
    assert runner.describe(arn)["Status"] == "RUNNING"
    runner.send_callback_success(callback_id, json.dumps({"approved": True}).encode())
    result = runner.wait_for_result(arn, timeout=10)
    assert time.monotonic() - started < NOT_SLEPT
    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {"answer": {"approved": True}, "for": {"order": 1}}
    approval = result.get_callback("approval")
    assert approval.status is OperationStatus.SUCCEEDED
    assert approval.callback_id == callback_id
    assert json.loads(approval.result) == {"approved": True}
    # answering twice is refused, as the service does
    with pytest.raises(ResourceNotFoundException, match="Failed to process callback success"):
        runner.send_callback_success(callback_id, b'"again"')
    with pytest.raises(DurableFunctionsTestError, match="already completed"):
        runner.wait_for_callback(arn, name="approval", timeout=1)


def test_wait_for_callback_latest_and_send_callback_failure(runner_of):
    runner = runner_of(approval_flow)
    arn = runner.run_async(input=None)
    callback_id = runner.wait_for_callback(arn)       # no name: the latest one waiting
    runner.send_callback_failure(callback_id, ErrorObject(message="manager said no", type="Rejected",
                                                          data=None, stack_trace=None))
    result = runner.wait_for_result(arn)
    assert result.status is InvocationStatus.FAILED
    assert result.error.type == CallbackExternalError.__name__
    assert result.error.message == "manager said no"
    approval = result.get_callback("approval")
    assert approval.status is OperationStatus.FAILED
    assert approval.error.type == "Rejected"


def test_heartbeats_keep_a_callback_alive(runner_of):
    @durable_execution
    def handler(event, context):
        callback = context.create_callback(name="job", config=CallbackConfig(
            heartbeat_timeout=Duration.from_seconds(2)))
        return callback.result()

    runner = runner_of(handler, poll_interval=0.05)
    arn = runner.run_async()
    callback_id = runner.wait_for_callback(arn, name="job")
    for _ in range(3):   # 2.4 s in all: past the heartbeat timeout without the heartbeats
        time.sleep(0.8)
        runner.send_callback_heartbeat(callback_id)
    assert runner.describe(arn)["Status"] == "RUNNING"
    runner.send_callback_success(callback_id, "finished")   # the raw answer: callbacks pass it through
    result = runner.wait_for_result(arn)
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.result == '"finished"'


def test_run_returns_pending_while_a_callback_waits_for_the_outside(runner_of):
    @durable_execution
    def handler(event, context):
        context.wait(Duration.from_days(3), name="before")
        return context.create_callback(name="human").result()

    runner = runner_of(handler)
    started = time.monotonic()
    pending = runner.run()
    assert time.monotonic() - started < NOT_SLEPT
    assert pending.status is InvocationStatus.PENDING
    assert pending.result is None and pending.error is None
    human = pending.get_callback("human")
    assert human.status is OperationStatus.STARTED
    assert pending.get_wait("before").status is OperationStatus.SUCCEEDED
    runner.send_callback_success(human.callback_id, "yes")
    result = runner.wait_for_result(pending.execution_arn)
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.result == '"yes"'


def test_wait_for_callback_operation_by_its_name(runner_of):
    submitted = []

    @durable_execution
    def handler(event, context):
        return context.wait_for_callback(lambda callback_id, _ctx: submitted.append(callback_id),
                                         name="ask", config=WaitForCallbackConfig(timeout=Duration.from_hours(1)))

    runner = runner_of(handler)
    arn = runner.run_async()
    callback_id = runner.wait_for_callback(arn, name="ask")
    assert callback_id == runner.wait_for_callback(arn, name="ask create callback id")
    assert submitted[-1] == callback_id
    runner.send_callback_success(callback_id, "answer")
    result = runner.wait_for_result(arn)
    assert result.result == '"answer"'
    ask = result.get_context("ask")
    assert isinstance(ask, ContextOperation) and ask.sub_type is OperationSubType.WAIT_FOR_CALLBACK
    assert ask.get_callback("ask create callback id").callback_id == callback_id
    assert ask.get_step("ask submitter").status is OperationStatus.SUCCEEDED


def test_an_unanswered_callback_with_a_timeout_times_out_in_wait_for_result(runner_of):
    runner = runner_of(approval_flow)
    arn = runner.run_async()
    runner.wait_for_callback(arn, name="approval")
    started = time.monotonic()
    result = runner.wait_for_result(arn)      # nobody can answer any more: the 5 minutes are skipped
    assert time.monotonic() - started < NOT_SLEPT
    assert result.error.type == "CallbackTimeoutError"


def test_wait_for_result_times_out_in_real_time(runner_of):
    @durable_execution
    def handler(event, context):
        return context.create_callback(name="never").result()

    runner = runner_of(handler, poll_interval=0.05)
    arn = runner.run_async()
    with pytest.raises(TimeoutError, match="did not complete"):
        runner.wait_for_result(arn, timeout=0.3)
    with pytest.raises(TimeoutError, match="Callback did not become available"):
        runner.wait_for_callback(arn, name="other", timeout=0.3)


def test_callback_errors(runner_of):
    runner = runner_of(approval_flow)
    with pytest.raises(InvalidParameterValueException):
        runner.send_callback_success("")
    with pytest.raises(ResourceNotFoundException):
        runner.send_callback_success("no-such-callback", b"1")
    with pytest.raises(ResourceNotFoundException):
        runner.send_callback_heartbeat("no-such-callback")


# ---------------------------------------------------------------------------
# failures, results, operations
# ---------------------------------------------------------------------------


def test_a_failing_handler(runner_of):
    @durable_execution
    def handler(event, context):
        context.step(lambda _: 1, name="fine")
        raise ValueError(f"bad order {event['id']}")

    result = runner_of(handler).run(input=json.dumps({"id": 3}))
    assert result.status is InvocationStatus.FAILED
    assert result.result is None
    assert result.error.type == "ValueError"
    assert result.error.message == "bad order 3"
    assert result.get_step("fine").status is OperationStatus.SUCCEEDED


def test_execution_timeout_in_real_time(runner_of):
    @durable_execution
    def handler(event, context):
        context.wait(Duration.from_hours(5), name="skipped")       # skipping does not count
        context.step(lambda _: time.sleep(1.5), name="slow")
        return "late"

    result = runner_of(handler, poll_interval=0.05).run(execution_timeout=1)
    assert result.status is InvocationStatus.FAILED
    assert result.error.message == "Execution timed out after 1 seconds."


def test_steps_children_and_lookups(runner_of):
    @durable_with_child_context
    def pack(child, items):
        return [child.step(lambda _, i=i: i * 10, name=f"pack-{i}") for i in items]

    @durable_execution
    def handler(event, context):
        total = context.step(lambda _: sum(event["items"]), name="total")
        packed = context.run_in_child_context(pack(event["items"]), name="packing")
        return {"total": total, "packed": packed}

    result = runner_of(handler).run(input={"items": [1, 2]})
    assert isinstance(result, DurableFunctionTestResult)
    assert json.loads(result.result) == {"total": 3, "packed": [10, 20]}
    total = result.get_step("total")
    assert total.result == "3" and total.attempt == 1 and total.parent_id is None
    assert total.operation_type is OperationType.STEP and total.sub_type is OperationSubType.STEP
    packing = result.get_context("packing")
    assert packing.sub_type is OperationSubType.RUN_IN_CHILD_CONTEXT
    assert json.loads(packing.result) == [10, 20]
    assert [op.name for op in packing.child_operations] == ["pack-1", "pack-2"]
    assert packing.get_step("pack-2").result == "20"
    assert packing.get_step("pack-2").parent_id == packing.operation_id
    # nested operations are not at the top level, but get_all_operations has them
    assert [op.name for op in result.operations] == ["total", "packing"]
    assert {op.name for op in result.get_all_operations()} == {"total", "packing", "pack-1", "pack-2"}
    with pytest.raises(DurableFunctionsTestError, match="Operation with name 'pack-1' not found"):
        result.get_step("pack-1")
    with pytest.raises(DurableFunctionsTestError, match="Child Operation with name 'nope' not found"):
        packing.get_step("nope")
    assert result.get_operation_by_name("total") is total


def test_input_is_normalised_as_the_official_runner(runner_of):
    @durable_execution
    def echo(event, context):
        return event

    runner = runner_of(echo)
    assert json.loads(runner.run(input="test").result) == "test"            # plain text
    assert json.loads(runner.run(input='{"a": 1}').result) == {"a": 1}     # JSON text as it is
    assert json.loads(runner.run(input=[1, 2]).result) == [1, 2]
    assert json.loads(runner.run().result) is None


def test_child_context_runner():
    @durable_with_child_context
    def double_after_a_day(ctx, n):
        ctx.wait(Duration.from_days(1), name="a day")
        return ctx.step(lambda _: n * 2, name="double")

    with DurableChildContextTestRunner(double_after_a_day, 21) as runner:
        result = runner.run()
    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == 42
    assert result.get_step("double").result == "42"


# ---------------------------------------------------------------------------
# chained invokes
# ---------------------------------------------------------------------------


@durable_execution
def doubler(event, context):
    context.wait(Duration.from_minutes(30), name="think")
    return {"doubled": event["n"] * 2}


@durable_execution
def refuser(event, context):
    raise PermissionError("not today")


@durable_execution
def invoker(event, context):
    ok = context.invoke("doubler", {"n": event["n"]}, name="double-it")
    try:
        context.invoke("refuser", None, name="refused")
    except InvokeError as e:
        return {"ok": ok, "refused": e.message}
    return {"ok": ok}


def test_invoke_of_registered_targets(runner_of):
    runner = runner_of(invoker, functions={"doubler": doubler, "refuser": refuser})
    started = time.monotonic()
    result = runner.run(input={"n": 21})
    assert time.monotonic() - started < NOT_SLEPT
    assert result.status is InvocationStatus.SUCCEEDED
    out = json.loads(result.result)
    assert out["ok"] == {"doubled": 42}
    assert "not today" in out["refused"]
    call = result.get_invoke("double-it")
    assert isinstance(call, InvokeOperation)
    assert call.operation_type is OperationType.CHAINED_INVOKE
    assert call.status is OperationStatus.SUCCEEDED and json.loads(call.result) == {"doubled": 42}
    refused = result.get_invoke("refused")
    assert refused.status is OperationStatus.FAILED and refused.error.type == "PermissionError"
    [target] = runner.executions("doubler")
    assert target["Status"] == "SUCCEEDED"


def test_invoke_of_an_unserved_function_is_reported(runner_of):
    runner = runner_of(invoker, functions={"refuser": refuser})
    with pytest.raises(DurableFunctionsTestError, match="does not serve: doubler"):
        runner.run(input={"n": 1})


def test_functions_can_be_registered_later(runner_of):
    runner = runner_of(invoker)
    runner.register("doubler", doubler)
    runner.register("refuser", refuser)
    assert json.loads(runner.run(input={"n": 2}).result)["ok"] == {"doubled": 4}
    with pytest.raises(InvalidParameterValueException):
        runner.register("doubler", refuser)


# ---------------------------------------------------------------------------
# threads and the durable_runner fixture
# ---------------------------------------------------------------------------


def test_answer_from_another_thread_while_run_waits(runner_of):
    @durable_execution
    def handler(event, context):
        return context.create_callback(name="outside").result()

    runner = runner_of(handler)

    def answer():
        arn = runner.executions()[0]["DurableExecutionArn"] if runner.executions() else None
        while arn is None:
            time.sleep(0.01)
            arn = runner.executions()[0]["DurableExecutionArn"] if runner.executions() else None
        runner.send_callback_success(runner.wait_for_callback(arn, name="outside"), "from a thread")

    helper = threading.Thread(target=answer)
    helper.start()
    arn = runner.run_async()
    result = runner.wait_for_result(arn, timeout=10)
    helper.join()
    assert result.result == '"from a thread"'


def test_durable_runner_fixture_factory(durable_runner):
    runner = durable_runner(one_hour_nap)
    other = durable_runner(invoker, functions={"doubler": doubler, "refuser": refuser})
    assert runner.run(input={"x": 1}).status is InvocationStatus.SUCCEEDED
    assert json.loads(other.run(input={"n": 5}).result)["ok"] == {"doubled": 10}
    # closed by the fixture's teardown


@pytest.mark.durable_execution(handler=approval_flow, lambda_function_name="approval flow")
def test_durable_runner_fixture_marker(durable_runner):
    assert durable_runner.mode == "local"
    with durable_runner:
        arn = durable_runner.run_async(input="order-9", timeout=30)
        callback_id = durable_runner.wait_for_callback(execution_arn=arn, name="approval")
        durable_runner.send_callback_success(callback_id=callback_id, result=b'"ok"')
        result = durable_runner.wait_for_result(execution_arn=arn)
    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {"answer": "ok", "for": "order-9"}


def test_durable_runner_fixture_without_marker_says_how(durable_runner):
    with pytest.raises(pytest.UsageError, match="durable_runner"):
        durable_runner.run(input="x")
