"""DurableContext: the operations a durable handler calls.

Each operation is declared to the C replay VM (which derives its id, checks it
against the recorded history and decides what happens next) and driven to an
answer: run the user's body, replay a recorded result, raise a recorded error,
or suspend. Names, signatures and defaults are those of the official
`aws_durable_execution_sdk_python.context`.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from perdure._engine import (
    NEXT_ERROR,
    NEXT_EXECUTE,
    NEXT_INTERRUPTED,
    NEXT_RESULT,
    Engine,
    arg,
    cstr,
)
from perdure._native import ffi, lib
from perdure.concurrency.models import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionReason,
    envelope_summary_generator,
)
from perdure.config import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from perdure.exceptions import (
    ErrorObject,
    InvalidStateError,
    InvocationError,
    StepInterruptedError,
    SuspendExecution,
    ValidationError,
    error_object,
)
from perdure.logger import Logger, LogInfo
from perdure.serdes import (
    DEFAULT_JSON_SERDES,
    NOT_PLAIN,
    PassThroughSerDes,
    SerDes,
    deserialize,
    read_plain,
    round_trip_plain,
    serialize,
)
from perdure.types import StepContext, WaitForCallbackContext, WaitForConditionCheckContext
from perdure.waits import WaitForConditionConfig

P = ParamSpec("P")
T = TypeVar("T")
U = TypeVar("U")

PASS_THROUGH_SERDES: SerDes[Any] = PassThroughSerDes()
_DEFAULT_STEP_CONFIG = StepConfig()


def _step_config(at_most_once: bool, caller_decides_retry: bool):
    cfg = ffi.new("perdure_step_config *")
    cfg.size = ffi.sizeof("perdure_step_config")
    cfg.semantics = lib.PERDURE_AT_MOST_ONCE_PER_RETRY if at_most_once else lib.PERDURE_AT_LEAST_ONCE_PER_RETRY
    cfg.caller_decides_retry = int(caller_decides_retry)
    return cfg


# The four perdure_step_config a step can declare, built once (the VM only reads them):
# [at most once per retry?, user-written retry strategy?]
_STEP_CONFIGS = {(most, caller): _step_config(most, caller) for most in (False, True) for caller in (False, True)}


def _step_cfg(config: StepConfig):
    """The perdure_step_config of a StepConfig."""
    return _STEP_CONFIGS[config.step_semantics == StepSemantics.AT_MOST_ONCE_PER_RETRY,
                         config.retry_strategy is not None]


_DEFAULT_STEP_CFG = _step_cfg(_DEFAULT_STEP_CONFIG)

_REASONS = {
    lib.PERDURE_COMPLETION_ALL_COMPLETED: CompletionReason.ALL_COMPLETED,
    lib.PERDURE_COMPLETION_MIN_SUCCESSFUL_REACHED: CompletionReason.MIN_SUCCESSFUL_REACHED,
    lib.PERDURE_COMPLETION_FAILURE_TOLERANCE_EXCEEDED: CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
}


@dataclass(frozen=True)
class ExecutionContext:
    """Read-only metadata about the current durable execution."""

    durable_execution_arn: str


def _named_binding(func: Callable) -> Callable:
    """A factory binding trailing arguments: `factory(*args)(first) == func(first, *args)`,
    keeping func's name for the operation (the official `_original_name`)."""

    def factory(*args, **kwargs):
        def function_with_arguments(first):
            return func(first, *args, **kwargs)

        function_with_arguments._original_name = func.__name__  # noqa: SLF001
        return function_with_arguments

    return factory


def durable_step(func: Callable[Concatenate[StepContext, P], T]) -> Callable[P, Callable[[StepContext], T]]:
    """Turns `func(step_context, *args)` into a factory of named step bodies."""
    return _named_binding(func)


def durable_with_child_context(
    func: Callable[Concatenate[DurableContext, P], T],
) -> Callable[P, Callable[[DurableContext], T]]:
    """Turns `func(child_context, *args)` into a factory of named child bodies."""
    return _named_binding(func)


def durable_parallel_branch(name: str | None = None):
    """Decorator factory: `func(ctx, *args)` becomes a factory of ParallelBranch."""

    def decorator(func: Callable[Concatenate[DurableContext, P], T]) -> Callable[P, ParallelBranch[T]]:
        def wrapper(*args, **kwargs) -> ParallelBranch[T]:
            def function_with_arguments(ctx: DurableContext) -> T:
                return func(ctx, *args, **kwargs)

            return ParallelBranch(func=function_with_arguments, name=name)

        return wrapper

    return decorator


def durable_wait_for_callback(func):
    """Turns `func(callback_id, context, *args)` into a factory of named submitters."""

    def wrapper(*args, **kwargs):
        def submitter_with_arguments(callback_id: str, context: WaitForCallbackContext):
            return func(callback_id, context, *args, **kwargs)

        submitter_with_arguments._original_name = func.__name__  # noqa: SLF001
        return submitter_with_arguments

    return wrapper


class Callback(Generic[T]):
    """A callback created by DurableContext.create_callback: give callback_id
    to the outside world, then call result() to wait for its answer."""

    def __init__(self, context: DurableContext, op: int, callback_id: str, operation_id: str,
                 serdes: SerDes[T] | None = None):
        self._context = context
        self._op = op
        self.callback_id: str = callback_id
        self.operation_id: str = operation_id
        self.serdes: SerDes[T] | None = serdes

    def result(self) -> T | None:
        """The answer, once it came; until then the invocation suspends (and
        the execution resumes here when the answer arrives)."""
        ctx = self._context
        ctx._enter()  # noqa: SLF001
        nxt = ctx._engine.drive(self._op)  # noqa: SLF001
        return ctx._answer(self._op, nxt, self.serdes or PASS_THROUGH_SERDES, self.operation_id)  # noqa: SLF001


class DurableContext:
    """The context a durable handler receives (and each child context)."""

    def __init__(self, engine: Engine, ctx: int = lib.PERDURE_ROOT, parent_id: str | None = None,
                 logger: Logger | None = None, lambda_context: Any = None):
        self._engine = engine
        self._ctx = ctx
        self._thread = threading.get_ident()
        self._parent_id = parent_id
        self.execution_context = ExecutionContext(durable_execution_arn=engine.arn)
        self.lambda_context = lambda_context
        self._log_info = LogInfo(execution_arn=engine.arn, parent_id=parent_id)
        if logger is not None:
            self.logger: Logger = logger.with_log_info(self._log_info).with_is_replaying(self.is_replaying)
        else:
            self.logger = Logger.from_log_info(logger=None, info=self._log_info, is_replaying=self.is_replaying)

    # -- helpers ---------------------------------------------------------------
    def _enter(self) -> None:
        """Refuses calls from a foreign thread, from inside a step body, or
        after the invocation ended."""
        body = self._engine.bodies.running
        if body is not None:
            raise InvalidStateError(
                f"durable operations cannot be called inside the body of {body}: a step's body runs once "
                "and is not replayed, so operations in it would not be found again; use run_in_child_context")
        if threading.get_ident() != self._thread:
            raise InvalidStateError(
                "DurableContext used from a thread that does not own it: call a context's operations from "
                "the thread running its handler, child context or map/parallel branch (replay order must "
                "be deterministic)")
        self._engine.vm  # noqa: B018  (raises InvalidStateError after the invocation ended)

    def _child(self, op: int, parent_id: str | None) -> DurableContext:
        return DurableContext(self._engine, op, parent_id, logger=self.logger, lambda_context=self.lambda_context)

    def _answer(self, op: int, nxt: int, serdes: SerDes | None, operation_id: str | None = None):
        """The operation's final answer: its value, its error, or a suspension
        (operation_id None: looked up only if it is needed)."""
        if nxt == NEXT_RESULT:
            data = self._engine.result(op)
            if data is None:
                return None
            return deserialize(serdes, data, operation_id or functools.partial(self._engine.op_id, op),
                               self._engine.arn)
        operation_id = operation_id or self._engine.op_id(op)
        if nxt == NEXT_ERROR:
            raise self._engine.error(op)
        if nxt == NEXT_EXECUTE:
            raise InvalidStateError(f"operation {operation_id} wants its body run again")
        raise SuspendExecution(f"operation {operation_id} waits for the service; suspending the invocation")

    def _run_body(self, what: str, body: Callable, *args):
        """Runs a step-like body (a step, a condition check, a submitter),
        during which this thread may not call durable operations."""
        bodies = self._engine.bodies
        outer, bodies.running = bodies.running, what
        try:
            return body(*args)
        finally:
            bodies.running = outer

    def _op_logger(self, operation_id: str, name: str | None, attempt: int | None = None) -> Logger:
        return self.logger.with_log_info(LogInfo(execution_arn=self._engine.arn, parent_id=self._parent_id,
                                                 operation_id=operation_id, name=name, attempt=attempt))

    @staticmethod
    def _resolve_step_name(name: str | None, func: Callable) -> str | None:
        return name or getattr(func, "_original_name", None)

    # -- public API --------------------------------------------------------------
    def is_replaying(self) -> bool:
        """True while the handler re-runs operations recorded by earlier invocations."""
        return self._engine.is_replaying()

    def set_logger(self, new_logger) -> None:
        self.logger = Logger.from_log_info(logger=new_logger, info=self._log_info, is_replaying=self.is_replaying)

    def step(self, func: Callable[[StepContext], T], name: str | None = None, config: StepConfig | None = None) -> T:
        self._enter()
        engine = self._engine
        name = self._resolve_step_name(name, func)
        if config is None:
            config, cfg = _DEFAULT_STEP_CONFIG, _DEFAULT_STEP_CFG
        else:
            cfg = _step_cfg(config)
        serdes = config.serdes
        op, nxt, text, is_plain = engine.step(self._ctx, arg(name), cfg, serdes is None)
        if nxt == NEXT_RESULT:   # replayed: the recorded value, without asking for the id
            if is_plain:
                value = read_plain(text)
                if value is not NOT_PLAIN:
                    return value
                text = engine.result(op)
            if text is None:
                return None
            return deserialize(serdes, text, functools.partial(engine.op_id, op), engine.arn)
        op_id = engine.op_id(op)
        succeeded = False
        while nxt in (NEXT_EXECUTE, NEXT_INTERRUPTED):
            succeeded = False
            attempt = engine.attempt(op)
            if nxt == NEXT_INTERRUPTED:
                # The process died during the last attempt of an at-most-once
                # step: it is not run again; its strategy decides what follows.
                recorded = engine.error(op)
                interrupted = StepInterruptedError(recorded.message or "step interrupted", step_id=op_id)
                _fail_attempt(engine, op, interrupted, config.retry_strategy, attempt)
            else:
                step_context = StepContext(logger=self._op_logger(op_id, name, attempt), attempt=attempt)
                try:
                    value = self._run_body(f'step "{name or op_id}"', func, step_context)
                except (InvocationError, InvalidStateError):
                    raise
                except Exception as e:  # noqa: BLE001  (the step failed: the retry strategy decides)
                    _fail_attempt(engine, op, e, config.retry_strategy, attempt)
                else:
                    engine.succeed(op, serialize(config.serdes, value, op_id, engine.arn))
                    succeeded = True
            nxt = engine.drive(op)
        if succeeded and nxt == NEXT_RESULT and config.serdes is None:
            # The first run returns the round-tripped value, as replay will
            # (protocol 7.5.5); for plain data it is built without the text.
            plain, copy = round_trip_plain(value)
            if plain:
                return copy
        return self._answer(op, nxt, config.serdes, op_id)

    def wait(self, duration: Duration, name: str | None = None) -> None:
        self._enter()
        seconds = duration.to_seconds()
        if seconds < 1:
            raise ValidationError("duration must be at least 1 second")
        op = self._engine.call(lib.perdure_vm_wait, self._ctx, arg(name), seconds)
        self._answer(op, self._engine.drive(op), None, self._engine.op_id(op))

    @staticmethod
    def _callback_config(config: CallbackConfig):
        cfg = ffi.new("perdure_callback_config *")
        cfg.size = ffi.sizeof("perdure_callback_config")
        cfg.timeout_seconds = config.timeout.to_seconds()
        cfg.heartbeat_timeout_seconds = config.heartbeat_timeout.to_seconds()
        return cfg

    def create_callback(self, name: str | None = None, config: CallbackConfig | None = None) -> Callback:
        self._enter()
        engine = self._engine
        config = config or CallbackConfig()
        op = engine.call(lib.perdure_vm_callback, self._ctx, arg(name), self._callback_config(config))
        engine.drive(op)
        return Callback(self, op, engine.callback_id(op), engine.op_id(op), serdes=config.serdes)

    def wait_for_callback(self, submitter: Callable[[str, WaitForCallbackContext], None], name: str | None = None,
                          config: WaitForCallbackConfig | None = None) -> Any:
        self._enter()
        engine = self._engine
        name = self._resolve_step_name(name, submitter)
        config = config or WaitForCallbackConfig()
        step_cfg = ffi.new("perdure_step_config *")
        step_cfg.size = ffi.sizeof("perdure_step_config")
        op = engine.call(lib.perdure_vm_wait_for_callback, self._ctx, arg(name), self._callback_config(config),
                         step_cfg)
        op_id = engine.op_id(op)
        while (nxt := engine.drive(op)) == NEXT_EXECUTE:
            callback_id = engine.callback_id(op)
            attempt = engine.attempt(op)
            try:
                self._run_body(f'the submitter of wait_for_callback "{name or op_id}"', submitter, callback_id,
                               WaitForCallbackContext(logger=self._op_logger(op_id, name, attempt)))
            except (InvocationError, InvalidStateError):
                raise
            except Exception as e:  # noqa: BLE001
                _fail_attempt(engine, op, e, config.retry_strategy, attempt)
                continue
            engine.succeed(op, "null")
        return self._answer(op, nxt, config.serdes or PASS_THROUGH_SERDES, op_id)

    def wait_for_condition(self, check: Callable[[T, WaitForConditionCheckContext], T],
                           config: WaitForConditionConfig[T], name: str | None = None) -> T:
        if check is None:
            raise ValidationError("`check` is required for wait_for_condition")
        if not config:
            raise ValidationError("`config` is required for wait_for_condition")
        self._enter()
        engine = self._engine
        initial = serialize(config.serdes, config.initial_state, "", engine.arn).encode("utf-8")
        cfg = ffi.new("perdure_condition_config *")
        cfg.size = ffi.sizeof("perdure_condition_config")
        initial_buf = ffi.new("unsigned char[]", initial)
        cfg.initial_state = initial_buf
        cfg.initial_state_len = len(initial)
        op = engine.call(lib.perdure_vm_wait_for_condition, self._ctx, arg(name), cfg)
        op_id = engine.op_id(op)
        while (nxt := engine.drive(op)) == NEXT_EXECUTE:
            attempt = engine.attempt(op)
            data = engine.result(op)
            state = deserialize(config.serdes, data, op_id, engine.arn) if data is not None else config.initial_state
            check_context = WaitForConditionCheckContext(logger=self._op_logger(op_id, name, attempt), attempt=attempt)
            try:
                new_state = self._run_body(f'the check of wait_for_condition "{name or op_id}"', check, state,
                                           check_context)
                decision = config.wait_strategy(new_state, attempt)
                payload = serialize(config.serdes, new_state, op_id, engine.arn).encode("utf-8")
            except (InvocationError, InvalidStateError):
                raise
            except Exception as e:  # noqa: BLE001  (a failing check or an exhausted strategy ends the operation)
                engine.fail(op, error_object(e), (False, 0))
                continue
            with engine.lock:
                engine.check(lib.perdure_vm_op_condition_decided(
                    engine.vm, op, payload, len(payload), int(decision.should_continue),
                    max(1, decision.delay_seconds) if decision.should_continue else 0))
        return self._answer(op, nxt, config.serdes, op_id)

    def invoke(self, function_name: str, payload: Any, name: str | None = None,
               config: InvokeConfig | None = None) -> Any:
        self._enter()
        engine = self._engine
        config = config or InvokeConfig()
        # The payload is part of the declaration, so it is serialised before
        # the operation (and its id) exists.
        # Both directions default to plain JSON: the target is any function.
        data = serialize(config.serdes_payload or DEFAULT_JSON_SERDES, payload, "", engine.arn).encode("utf-8")
        op = engine.call(lib.perdure_vm_invoke, self._ctx, arg(name), arg(function_name),
                         arg(config.tenant_id), data, len(data))
        return self._answer(op, engine.drive(op), config.serdes_result or DEFAULT_JSON_SERDES, engine.op_id(op))

    def run_in_child_context(self, func: Callable[[DurableContext], T], name: str | None = None,
                             config: ChildConfig | None = None) -> T:
        self._enter()
        engine = self._engine
        name = self._resolve_step_name(name, func)
        config = config or ChildConfig()
        sub_type = getattr(config.sub_type, "value", config.sub_type)
        op = engine.call(lib.perdure_vm_child, self._ctx, arg(name), arg(sub_type), int(bool(config.is_virtual)))
        op_id = engine.op_id(op)
        nxt = engine.drive(op)
        if nxt != NEXT_EXECUTE:
            return self._answer(op, nxt, config.serdes, op_id)
        child = self._child(op, self._parent_id if config.is_virtual else op_id)
        try:
            value = func(child)
        except SuspendExecution:
            engine.suspended(op)
            raise
        except InvocationError:
            raise
        except Exception as e:
            engine.fail(op, error_object(e))
            nxt = engine.drive(op)
            if nxt == NEXT_ERROR:
                raise engine.error(op) from e
            return self._answer(op, nxt, config.serdes, op_id)
        payload = serialize(config.serdes, value, op_id, engine.arn)
        if len(payload) > lib.PERDURE_REPLAY_CHILDREN_THRESHOLD:
            engine.set_summary(op, config.summary_generator(value) if config.summary_generator else "")
        engine.succeed(op, payload)
        nxt = engine.drive(op)
        return value if nxt == NEXT_RESULT else self._answer(op, nxt, config.serdes, op_id)

    # -- map / parallel ------------------------------------------------------------
    def map(self, inputs: Sequence[U], func: Callable[[DurableContext, U, int, Sequence[U]], T],
            name: str | None = None, config: MapConfig | None = None) -> BatchResult[T]:
        name = self._resolve_step_name(name, func)
        items = list(inputs)
        if config is not None:
            config.completion_config._validate_for_total(len(items))  # noqa: SLF001
        config = config or MapConfig()
        names = [config.item_namer(item, i) for i, item in enumerate(items)] if config.item_namer else None
        return self._batch(lib.PERDURE_BATCH_MAP, name, len(items), config, names,
                           lambda ctx, i: func(ctx, items[i], i, items))

    def parallel(self, functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
                 name: str | None = None, config: ParallelConfig | None = None) -> BatchResult[T]:
        branches = list(functions)
        if config is not None:
            config.completion_config._validate_for_total(len(branches))  # noqa: SLF001
        config = config or ParallelConfig()
        bodies = [b.func if isinstance(b, ParallelBranch) else b for b in branches]
        names = None
        if any(isinstance(b, ParallelBranch) and b.name for b in branches):
            names = [b.name if isinstance(b, ParallelBranch) and b.name else f"parallel-branch-{i}"
                     for i, b in enumerate(branches)]
        return self._batch(lib.PERDURE_BATCH_PARALLEL, name, len(branches), config, names,
                           lambda ctx, i: bodies[i](ctx))

    def _batch(self, kind: int, name: str | None, count: int, config: MapConfig | ParallelConfig,
               item_names: list[str] | None, body: Callable[[DurableContext, int], Any]) -> BatchResult:
        self._enter()
        engine = self._engine
        keep = []
        cfg = ffi.new("perdure_batch_config *")
        cfg.size = ffi.sizeof("perdure_batch_config")
        cfg.max_concurrency = -1 if config.max_concurrency is None else config.max_concurrency
        completion = ffi.new("perdure_completion_config *")
        completion.size = ffi.sizeof("perdure_completion_config")
        cc = config.completion_config
        completion.min_successful = -1 if cc.min_successful is None else cc.min_successful
        completion.tolerated_failure_count = -1 if cc.tolerated_failure_count is None else cc.tolerated_failure_count
        completion.tolerated_failure_percentage = (-1.0 if cc.tolerated_failure_percentage is None
                                                   else float(cc.tolerated_failure_percentage))
        cfg.completion = completion
        cfg.nesting = lib.PERDURE_NESTING_FLAT if config.nesting_type == NestingType.FLAT else lib.PERDURE_NESTING_NESTED
        if item_names is not None:
            keep = [cstr(str(n)) for n in item_names]
            names_array = ffi.new("const char *[]", keep)
            cfg.item_names = names_array
        op = engine.call(lib.perdure_vm_batch, self._ctx, arg(name), kind, count, cfg)
        op_id = engine.op_id(op)
        nxt = engine.drive(op)
        if nxt != NEXT_EXECUTE:
            return self._batch_answer(op, nxt, config, op_id)
        item_serdes = config.item_serdes or config.serdes
        # Operations inside a FLAT item take the map as their parent.
        flat_parent = op_id if config.nesting_type == NestingType.FLAT else None
        _BatchRun(self, op, body, item_serdes, flat_parent).run(config.max_concurrency or count)
        result = self._batch_result(op, item_serdes)
        payload = serialize(config.serdes, result, op_id, engine.arn)
        if len(payload) > lib.PERDURE_REPLAY_CHILDREN_THRESHOLD:
            kind_name = "MapResult" if kind == lib.PERDURE_BATCH_MAP else "ParallelResult"
            engine.set_summary(op, envelope_summary_generator(kind_name, config.summary_generator)(result))
        engine.succeed(op, payload)
        nxt = engine.drive(op)
        return result if nxt == NEXT_RESULT else self._batch_answer(op, nxt, config, op_id)

    def _batch_answer(self, op: int, nxt: int, config, op_id: str) -> BatchResult:
        if nxt != NEXT_RESULT:
            return self._answer(op, nxt, None, op_id)
        data = self._engine.result(op)
        if data is None or data == "":
            # A summary was recorded instead (ReplayChildren): rebuild from the items.
            return self._batch_result(op, config.item_serdes or config.serdes)
        return deserialize(config.serdes, data, op_id, self._engine.arn)

    def _batch_result(self, op: int, item_serdes: SerDes | None) -> BatchResult:
        engine = self._engine
        with engine.lock:
            vm = engine.vm
            outcome = ffi.new("perdure_batch_outcome *")
            engine.check(lib.perdure_vm_batch_outcome(vm, op, outcome))
            items = []
            status = ffi.new("perdure_op_status *")
            item = ffi.new("perdure_op *")
            for i in range(outcome.total):
                engine.check(lib.perdure_vm_batch_item(vm, op, i, status, item))
                if status[0] == lib.PERDURE_STATUS_SUCCEEDED:
                    data = engine.result(item[0])
                    value = None if data is None else deserialize(item_serdes, data, engine.op_id(item[0]), engine.arn)
                    items.append(BatchItem(i, BatchItemStatus.SUCCEEDED, value, None))
                elif status[0] == lib.PERDURE_STATUS_FAILED:
                    items.append(BatchItem(i, BatchItemStatus.FAILED, None, _error_of(engine, item[0])))
                elif status[0] == lib.PERDURE_STATUS_STARTED:
                    items.append(BatchItem(i, BatchItemStatus.STARTED, None, None))
            return BatchResult(items, _REASONS.get(outcome.reason, CompletionReason.ALL_COMPLETED))


def _fail_attempt(engine: Engine, op: int, error: Exception, retry_strategy, attempt: int) -> None:
    """Reports a failed attempt: a user-given strategy decides here, else the
    VM applies its default one."""
    decision = None
    if retry_strategy is not None:
        d = retry_strategy(error, attempt)
        decision = (d.should_retry, d.delay_seconds)
    engine.fail(op, error_object(error), decision)


def _error_of(engine: Engine, op: int):
    """A failed item's error as the official BatchItem carries it (an ErrorObject)."""
    e = engine.error(op)
    return ErrorObject(message=e.message, type=e.error_type, data=e.data, stack_trace=e.stack_trace)


class _BatchRun:
    """Runs the items of one map/parallel: the VM says which item may start
    (max_concurrency and completion are its decisions); each started item's
    body runs in a thread of a pool, and reports back under the engine lock."""

    def __init__(self, parent: DurableContext, op: int, body, item_serdes, flat_parent: str | None):
        self.parent = parent
        self.engine = parent._engine  # noqa: SLF001
        self.op = op
        self.body = body
        self.item_serdes = item_serdes
        self.flat_parent = flat_parent
        self.fatal: BaseException | None = None
        self.done = False

    def run(self, max_threads: int) -> None:
        engine = self.engine
        pool = None
        poll = ffi.new("perdure_batch_poll *")
        try:
            with engine.lock:
                while True:
                    if self.fatal is not None:
                        raise self.fatal
                    engine.check(lib.perdure_vm_batch_poll(engine.vm, self.op, poll))
                    action = poll.action
                    if action == lib.PERDURE_BATCH_RUN_ITEM:
                        item, index = poll.item, poll.index
                        if engine.drive(item) == NEXT_EXECUTE:
                            if pool is None:
                                pool = ThreadPoolExecutor(max_workers=max(1, min(max_threads, 64)),
                                                          thread_name_prefix="perdure-item")
                            pool.submit(self._run_item, index, item)
                    elif action == lib.PERDURE_BATCH_WAIT:
                        # Woken when an item reports or a checkpoint is
                        # acknowledged; the timeout only bounds a missed wake-up.
                        engine.wait_changed(timeout=1.0)
                    elif action == lib.PERDURE_BATCH_DONE:
                        return
                    else:
                        raise SuspendExecution("every runnable item waits for the service; suspending")
        finally:
            self.done = True
            if pool is not None:
                pool.shutdown(wait=False)

    def _run_item(self, index: int, item: int) -> None:
        engine = self.engine
        try:
            item_id = engine.op_id(item)
            ctx = self.parent._child(item, self.flat_parent or item_id)  # noqa: SLF001
            try:
                value = self.body(ctx, index)
            except SuspendExecution:
                engine.suspended(item)
                return
            except InvocationError:
                raise
            except Exception as e:  # noqa: BLE001  (the item failed; the completion policy decides)
                engine.fail(item, error_object(e))
                engine.drive(item)
                return
            engine.succeed(item, serialize(self.item_serdes, value, item_id, engine.arn))
            engine.drive(item)
        except BaseException as e:  # noqa: BLE001  (handed to the thread running the map)
            with engine.lock:
                if not self.done and self.fatal is None:
                    self.fatal = e
                engine.notify_changed()
