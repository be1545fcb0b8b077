"""DurableFunctionTestRunner: run a durable handler to its end inside a test.

The names, signatures and results are those of the official testing library
(`aws_durable_execution_sdk_python_testing.runner`). Underneath is the real
thing: a Perdure store file (in a temporary directory) and a perdure.Worker
serving the handler in a background thread, so every invocation goes through
the store, the lease and the replay VM exactly as in production.

Time skipping (skip_time=True, the default): the store's clock is a
VirtualClock. Whenever nothing is ready to run and the next scheduled wakeup
(perdure_store_next_wakeup) is a wait or a step retry, the clock jumps to it
instead of sleeping. Callback and heartbeat timeouts are skipped too while
nobody can answer the callback, i.e. while a thread is inside run() or
wait_for_result(); between run_async() and wait_for_result() they run in real
time, so that wait_for_callback() + send_callback_*() can answer first. A
callback with no timeout is never skipped over: run() returns (status
PENDING) once the execution only waits for the outside world.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from perdure.exceptions import ErrorObject
from perdure.execution import durable_execution
from perdure.store import ConflictError, NotFoundError, Store, StoreError
from perdure.testing.clock import VirtualClock
from perdure.testing.exceptions import (
    DurableFunctionsTestError,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from perdure.testing.model import (
    InvocationStatus,
    OperationPayload,
    OperationStatus,
    OperationSubType,
    OperationType,
    enum_or_raw,
)
from perdure.worker import Worker

logger = logging.getLogger(__name__)

__all__ = [
    "CallbackOperation",
    "ContextOperation",
    "DurableChildContextTestRunner",
    "DurableFunctionTestResult",
    "DurableFunctionTestRunner",
    "ExecutionOperation",
    "InvokeOperation",
    "Operation",
    "StepOperation",
    "WaitOperation",
    "create_operation",
]

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"})
DEFAULT_FUNCTION_NAME = "test-function"


# ---------------------------------------------------------------------------
# Operations, as the official testing library presents them
# ---------------------------------------------------------------------------


def _timestamp(value: float | None) -> datetime.datetime | None:
    if value is None:
        return None
    return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)


def _error(details: Mapping[str, Any] | None) -> ErrorObject | None:
    error = (details or {}).get("Error")
    return ErrorObject.from_dict(error) if error is not None else None


def _common(op: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "operation_id": op["Id"],
        "operation_type": enum_or_raw(OperationType, op.get("Type")),
        "status": enum_or_raw(OperationStatus, op.get("Status")),
        "parent_id": op.get("ParentId"),
        "name": op.get("Name"),
        "sub_type": enum_or_raw(OperationSubType, op.get("SubType")),
        "start_timestamp": _timestamp(op.get("StartTimestamp")),
        "end_timestamp": _timestamp(op.get("EndTimestamp")),
    }


def _children(op: Mapping[str, Any], all_operations: list[Mapping[str, Any]] | None) -> list[Operation]:
    if not all_operations:
        return []
    return [create_operation(child, all_operations) for child in all_operations
            if child.get("ParentId") == op["Id"]]


class _Lookup:
    """get_step / get_wait / ... over `self._named()`."""

    def _named(self) -> list[Operation]:
        raise NotImplementedError

    def _not_found(self, name: str) -> str:
        return f"Operation with name '{name}' not found"

    def get_operation_by_name(self, name: str) -> Operation:
        for operation in self._named():
            if operation.name == name:
                return operation
        raise DurableFunctionsTestError(self._not_found(name))

    def get_step(self, name: str) -> StepOperation:
        return cast(StepOperation, self.get_operation_by_name(name))

    def get_wait(self, name: str) -> WaitOperation:
        return cast(WaitOperation, self.get_operation_by_name(name))

    def get_context(self, name: str) -> ContextOperation:
        return cast(ContextOperation, self.get_operation_by_name(name))

    def get_callback(self, name: str) -> CallbackOperation:
        return cast(CallbackOperation, self.get_operation_by_name(name))

    def get_invoke(self, name: str) -> InvokeOperation:
        return cast(InvokeOperation, self.get_operation_by_name(name))

    def get_execution(self, name: str) -> ExecutionOperation:
        return cast(ExecutionOperation, self.get_operation_by_name(name))


@dataclass(frozen=True)
class Operation:
    operation_id: str
    operation_type: OperationType
    status: OperationStatus
    parent_id: str | None = field(default=None, kw_only=True)
    name: str | None = field(default=None, kw_only=True)
    sub_type: OperationSubType | None = field(default=None, kw_only=True)
    start_timestamp: datetime.datetime | None = field(default=None, kw_only=True)
    end_timestamp: datetime.datetime | None = field(default=None, kw_only=True)

    @staticmethod
    def from_svc_operation(operation: Mapping[str, Any],
                           all_operations: list[Mapping[str, Any]] | None = None) -> Operation:
        return Operation(**_common(operation))


def _expect(op: Mapping[str, Any], kind: OperationType) -> None:
    if op.get("Type") != kind.value:
        raise InvalidParameterValueException(f"Expected {kind.value} operation, got {op.get('Type')}")


@dataclass(frozen=True)
class ExecutionOperation(Operation):
    input_payload: str | None = None

    @staticmethod
    def from_svc_operation(operation: Mapping[str, Any],
                           all_operations: list[Mapping[str, Any]] | None = None) -> ExecutionOperation:
        _expect(operation, OperationType.EXECUTION)
        return ExecutionOperation(**_common(operation),
                                  input_payload=(operation.get("ExecutionDetails") or {}).get("InputPayload"))


@dataclass(frozen=True)
class ContextOperation(_Lookup, Operation):
    child_operations: list[Operation] = field(default_factory=list)
    result: OperationPayload | None = None
    error: ErrorObject | None = None

    def _named(self) -> list[Operation]:
        return self.child_operations

    def _not_found(self, name: str) -> str:
        return f"Child Operation with name '{name}' not found"

    @staticmethod
    def from_svc_operation(operation: Mapping[str, Any],
                           all_operations: list[Mapping[str, Any]] | None = None) -> ContextOperation:
        _expect(operation, OperationType.CONTEXT)
        details = operation.get("ContextDetails") or {}
        return ContextOperation(**_common(operation), child_operations=_children(operation, all_operations),
                                result=details.get("Result"), error=_error(details))


@dataclass(frozen=True)
class StepOperation(ContextOperation):
    attempt: int = 0
    next_attempt_timestamp: datetime.datetime | None = None

    @staticmethod
    def from_svc_operation(operation: Mapping[str, Any],
                           all_operations: list[Mapping[str, Any]] | None = None) -> StepOperation:
        _expect(operation, OperationType.STEP)
        details = operation.get("StepDetails") or {}
        return StepOperation(**_common(operation), child_operations=_children(operation, all_operations),
                             attempt=details.get("Attempt", 0),
                             next_attempt_timestamp=_timestamp(details.get("NextAttemptTimestamp")),
                             result=details.get("Result"), error=_error(details))


@dataclass(frozen=True)
class WaitOperation(Operation):
    scheduled_end_timestamp: datetime.datetime | None = None

    @staticmethod
    def from_svc_operation(operation: Mapping[str, Any],
                           all_operations: list[Mapping[str, Any]] | None = None) -> WaitOperation:
        _expect(operation, OperationType.WAIT)
        details = operation.get("WaitDetails") or {}
        return WaitOperation(**_common(operation),
                             scheduled_end_timestamp=_timestamp(details.get("ScheduledEndTimestamp")))


@dataclass(frozen=True)
class CallbackOperation(ContextOperation):
    callback_id: str | None = None

    @staticmethod
    def from_svc_operation(operation: Mapping[str, Any],
                           all_operations: list[Mapping[str, Any]] | None = None) -> CallbackOperation:
        _expect(operation, OperationType.CALLBACK)
        details = operation.get("CallbackDetails") or {}
        return CallbackOperation(**_common(operation), child_operations=_children(operation, all_operations),
                                 callback_id=details.get("CallbackId"), result=details.get("Result"),
                                 error=_error(details))


@dataclass(frozen=True)
class InvokeOperation(Operation):
    result: OperationPayload | None = None
    error: ErrorObject | None = None

    @staticmethod
    def from_svc_operation(operation: Mapping[str, Any],
                           all_operations: list[Mapping[str, Any]] | None = None) -> InvokeOperation:
        _expect(operation, OperationType.CHAINED_INVOKE)
        details = operation.get("ChainedInvokeDetails") or {}
        return InvokeOperation(**_common(operation), result=details.get("Result"), error=_error(details))


OPERATION_FACTORIES: dict[OperationType, type[Operation]] = {
    OperationType.EXECUTION: ExecutionOperation,
    OperationType.CONTEXT: ContextOperation,
    OperationType.STEP: StepOperation,
    OperationType.WAIT: WaitOperation,
    OperationType.CHAINED_INVOKE: InvokeOperation,
    OperationType.CALLBACK: CallbackOperation,
}


def create_operation(svc_operation: Mapping[str, Any],
                     all_operations: list[Mapping[str, Any]] | None = None) -> Operation:
    """The test-side Operation for one operation of the store (GetDurableExecutionState's shape)."""
    kind = enum_or_raw(OperationType, svc_operation.get("Type"))
    factory = OPERATION_FACTORIES.get(kind) if isinstance(kind, OperationType) else None
    if factory is None:
        raise DurableFunctionsTestError(f"Unknown operation type: {svc_operation.get('Type')}")
    return factory.from_svc_operation(svc_operation, all_operations)


# ---------------------------------------------------------------------------
# The result of a run
# ---------------------------------------------------------------------------


def _invocation_status(status: str) -> InvocationStatus:
    if status == "SUCCEEDED":
        return InvocationStatus.SUCCEEDED
    if status in TERMINAL:
        return InvocationStatus.FAILED   # TIMED_OUT and STOPPED too, as the official
    return InvocationStatus.PENDING


@dataclass(frozen=True)
class DurableFunctionTestResult(_Lookup):
    """status, result (the handler's result as JSON text), error (an
    ErrorObject) and the top-level operations, each with its children.

    status is PENDING when run() returned because the execution only waits
    for the outside world (a callback without a timeout); execution_arn then
    lets the test answer it and call wait_for_result.
    """

    status: InvocationStatus
    operations: list[Operation]
    result: OperationPayload | None = None
    error: ErrorObject | None = None
    execution_arn: str | None = field(default=None, kw_only=True)
    execution_status: str | None = field(default=None, kw_only=True)

    def _named(self) -> list[Operation]:
        return self.operations

    @classmethod
    def from_store(cls, description: Mapping[str, Any],
                   operations: list[Mapping[str, Any]]) -> DurableFunctionTestResult:
        """From a store's describe() and operations() of one execution."""
        top = [create_operation(op, operations) for op in operations
               if op.get("Type") != OperationType.EXECUTION.value and op.get("ParentId") is None]
        error = description.get("Error")
        return cls(
            status=_invocation_status(description["Status"]),
            operations=top,
            result=description.get("Result"),
            error=ErrorObject.from_dict(error) if error is not None else None,
            execution_arn=description.get("DurableExecutionArn"),
            execution_status=description["Status"],
        )

    def get_all_operations(self) -> list[Operation]:
        """Every operation, nested ones included."""
        found: list[Operation] = []
        stack = list(self.operations)
        while stack:
            op = stack.pop()
            found.append(op)
            stack.extend(getattr(op, "child_operations", None) or [])
        return found


# ---------------------------------------------------------------------------
# Callbacks in a history
# ---------------------------------------------------------------------------

_CALLBACK_ENDED = ("CallbackSucceeded", "CallbackFailed", "CallbackTimedOut")


def _callback_id_from_events(events: list[dict], name: str | None) -> str | None:
    """The id of a callback nobody answered yet whose invocation has finished
    (it suspended, so the answer can come); None when there is none yet.
    With `name`: that callback (or the callback of the wait_for_callback of
    that name); DurableFunctionsTestError when it has already ended."""
    started = [(i, e) for i, e in enumerate(events) if e.get("EventType") == "CallbackStarted"]
    ended = {e.get("Id") for e in events if e.get("EventType") in _CALLBACK_ENDED}

    def settled(index: int) -> bool:
        return any(e.get("EventType") == "InvocationCompleted" for e in events[index + 1:])

    def callback_id(event: dict) -> str | None:
        return (event.get("CallbackStartedDetails") or {}).get("CallbackId")

    if name is not None:
        for wanted in (name, f"{name} create callback id"):
            for index, event in started:
                if event.get("Name") != wanted:
                    continue
                if event.get("Id") in ended:
                    raise DurableFunctionsTestError(
                        f"Callback {name} has already completed (succeeded/failed/timed out)")
                return callback_id(event) if settled(index) else None
        return None
    active = [(i, e) for i, e in started if e.get("Id") not in ended and settled(i)]
    return callback_id(active[-1][1]) if active else None


def _normalized_input(value: Any) -> str:
    """As the official runner: JSON text is passed as it is, anything else
    (plain text, None, a dict...) is JSON-encoded."""
    if isinstance(value, (str, bytes, bytearray)):
        try:
            json.loads(value)
            return value.decode("utf-8") if isinstance(value, (bytes, bytearray)) else value
        except (json.JSONDecodeError, UnicodeDecodeError):
            if isinstance(value, (bytes, bytearray)):
                value = value.decode("utf-8", "replace")
    return json.dumps(value)


def _function_name(function_arn: str) -> str:
    """'target' from arn:aws:lambda:region:account:function:target[:qualifier]."""
    parts = function_arn.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else function_arn


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


# ---------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------


class DurableFunctionTestRunner:
    """Runs `handler` (a @durable_execution function) in-process, on a store
    whose clock the runner controls.

    functions: other functions the store may run ({"name" or "name@version":
    handler}), e.g. the targets of context.invoke. store: path of the store
    file to use (kept after close); default a temporary file removed at close.
    skip_time: skip over waits, retry delays and callback timeouts (see the
    module documentation); False runs them in real time.
    poll_interval bounds the pauses of wait_for_callback and wait_for_result
    between checks. max_invocation_page_bytes is accepted for compatibility
    and ignored (the invocation input is never paged in-process).
    """

    def __init__(
        self,
        handler: Callable,
        poll_interval: float = 1.0,
        max_invocation_page_bytes: int | None = None,
        execution_timeout: int = 300,
        invocation_timeout: int = 900,
        store: str | os.PathLike | Store | None = None,
        skip_time: bool = True,  # noqa: FBT001, FBT002  (the official signature)
        *,
        functions: Mapping[str, Callable] | None = None,
        function_name: str = DEFAULT_FUNCTION_NAME,
    ):
        if handler is None:
            raise InvalidParameterValueException("handler is required")
        self._handler = handler
        self.poll_interval = poll_interval
        self._max_invocation_page_bytes = max_invocation_page_bytes
        self._execution_timeout = execution_timeout
        self._invocation_timeout = invocation_timeout
        self._skip_time = bool(skip_time)
        self._default_function = function_name
        self.clock = VirtualClock()

        self._functions: dict[str, Callable] = dict(functions or {})
        self._tmpdir: str | None = None
        if store is None:
            self._tmpdir = tempfile.mkdtemp(prefix="perdure-testing-")
            path = os.path.join(self._tmpdir, "store.db")
        elif isinstance(store, Store):
            path = store.path
        else:
            path = os.fspath(store)
        if path == ":memory:":
            raise InvalidParameterValueException(
                "the test runner needs a store file (its worker thread and the test use separate handles)")
        self.store_path = path
        lease_ms = max(1, int(invocation_timeout)) * 1000
        # One handle per side: the worker thread's (leases, checkpoints,
        # planning) and the test's (start, describe, callbacks), which any
        # test thread may use under _lock.
        self._wstore = Store(path, clock=self.clock.now_ms, lease_ms=lease_ms, synchronous_normal=True)
        try:
            self._cstore = Store(path, clock=self.clock.now_ms, lease_ms=lease_ms, synchronous_normal=True)
        except BaseException:
            self._wstore.close()
            raise
        self._lock = threading.RLock()

        # State shared with the worker thread, under _cond.
        self._cond = threading.Condition()
        self._version = 0            # bumped by every change (invocation, start, answer, close)
        self._idle = False           # nothing runnable, nothing to skip to: only the outside world can act
        self._unserved: set[str] = set()
        self._attended = 0           # threads inside run()/wait_for_result(): nobody answers callbacks
        self._closing = False
        self._closed = False
        self._functions_changed = True
        self._driver_error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._deadlines: dict[str, tuple[float, int]] = {}   # arn -> (monotonic deadline, seconds)
        self.invocations = 0

        # Worker-thread private.
        self._worker: Worker | None = None
        self._served: set[str] = set()
        self._execution_deadline_ms: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()

    def close(self) -> None:
        """Stops the worker thread and closes the store (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._version += 1
            self._cond.notify_all()
        thread = self._thread
        stuck = False
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
            stuck = thread.is_alive()
        with self._cond:
            self._closed = True
        with self._lock:
            self._cstore.close()
        if stuck:
            # A handler still runs in the worker thread: its store handle must outlive it.
            logger.warning("perdure.testing: a handler is still running at close; its store is left open")
        else:
            if self._worker is not None:
                self._worker.close()
            self._wstore.close()
        if self._tmpdir is not None and not stuck:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def _check_open(self) -> None:
        if self._closing or self._closed:
            raise DurableFunctionsTestError("the test runner is closed")

    # -- starting ----------------------------------------------------------------
    def register(self, name: str, handler: Callable) -> None:
        """Serves one more function from this runner's store (e.g. an invoke target)."""
        with self._cond:
            if self._functions.get(name, handler) is not handler:
                raise InvalidParameterValueException(f"function {name!r} is already served by another handler")
            if name not in self._functions:
                self._functions[name] = handler
                self._functions_changed = True
                self._bump()

    def run(
        self,
        input: Any = None,  # noqa: A002
        execution_timeout: int | None = None,
        timeout: int | None = None,
        function_name: str | None = None,
        execution_name: str | None = None,
        account_id: str | None = None,
    ) -> DurableFunctionTestResult:
        """Starts an execution and returns its result once it ended, or once it
        only waits for the outside world (status PENDING; see execution_arn).
        TimeoutError when neither happened within the execution timeout (in
        real seconds)."""
        if timeout is not None and execution_timeout is None:
            warnings.warn("timeout on run() is deprecated. Use execution_timeout instead.",
                          DeprecationWarning, stacklevel=2)
            execution_timeout = timeout
        effective = execution_timeout if execution_timeout is not None else self._execution_timeout
        arn = self.run_async(input=input, execution_timeout=effective, function_name=function_name,
                             execution_name=execution_name, account_id=account_id)
        return self._wait(arn, effective, until_idle=True)

    def run_async(
        self,
        input: Any = None,  # noqa: A002
        execution_timeout: int | None = None,
        timeout: int | None = None,
        function_name: str | None = None,
        execution_name: str | None = None,
        account_id: str | None = None,  # noqa: ARG002  (ARNs use the local account)
    ) -> str:
        """Starts an execution and returns its ARN at once."""
        self._check_open()
        if timeout is not None and execution_timeout is None:
            execution_timeout = timeout
        effective = int(execution_timeout if execution_timeout is not None else self._execution_timeout)
        name = function_name or self._default_function
        self.register(name, self._handler)
        # Skipping time, the execution timeout is measured in real time (as the
        # official runner's): the store's own deadline would be crossed by the
        # first skipped wait longer than it.
        store_timeout = 0 if self._skip_time else effective
        with self._lock:
            self._check_open()
            try:
                arn = self._cstore.start(name, name=execution_name, execution_timeout=store_timeout,
                                         input_json=_normalized_input(input))
            except StoreError as e:
                raise InvalidParameterValueException(f"cannot start the execution: {e}") from e
        with self._cond:
            if self._skip_time and effective > 0:
                self._deadlines.setdefault(arn, (time.monotonic() + effective, effective))
            self._bump()
        self._ensure_thread()
        return arn

    # -- waiting -----------------------------------------------------------------
    def wait_for_result(self, execution_arn: str, timeout: int = 60) -> DurableFunctionTestResult:
        """Blocks until the execution ended (TimeoutError after `timeout` real seconds)."""
        return self._wait(execution_arn, timeout, until_idle=False)

    def wait_for_callback(self, execution_arn: str, name: str | None = None, timeout: int = 60) -> str:
        """The id of a callback of the execution that waits for its answer
        (named `name`, else the latest), once its invocation has suspended."""
        start = time.monotonic()
        while True:
            with self._cond:
                seen = (self._version, self._idle)
            try:
                events = self.history(execution_arn)
            except ResourceNotFoundException:
                events = []
            callback_id = _callback_id_from_events(events, name)
            if callback_id:
                return callback_id
            description = self._describe_or_none(execution_arn)
            if description is not None and description["Status"] in TERMINAL:
                raise DurableFunctionsTestError(
                    f"the execution ended ({description['Status']}) without a callback "
                    f"{'named ' + repr(name) + ' ' if name else ''}waiting for an answer")
            self._raise_driver_error()
            elapsed = time.monotonic() - start
            if elapsed >= timeout:
                raise TimeoutError(
                    f"Callback did not become available within {timeout}s (elapsed: {elapsed:.1f}s).")
            self._wait_change(seen, min(self.poll_interval, timeout - elapsed))

    def _wait(self, arn: str, timeout: float, *, until_idle: bool) -> DurableFunctionTestResult:
        self._check_open()
        start = time.monotonic()
        with self._attending():
            while True:
                with self._cond:
                    seen = (self._version, self._idle)
                    idle, unserved = self._idle, set(self._unserved)
                    deadline = self._deadlines.get(arn)
                description = self.describe(arn)
                if description["Status"] in TERMINAL:
                    break
                self._raise_driver_error()
                if idle and unserved:
                    names = ", ".join(sorted(unserved))
                    raise DurableFunctionsTestError(
                        f"the execution waits on function(s) this runner does not serve: {names}; "
                        f"pass them as DurableFunctionTestRunner(handler, functions={{name: handler}})")
                if idle and until_idle:
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline[0]:
                    self._time_out(arn, deadline[1])
                    continue
                if now - start >= timeout:
                    raise TimeoutError("Execution did not complete within timeout")
                pause = min(self.poll_interval, timeout - (now - start))
                if deadline is not None:
                    pause = min(pause, max(0.0, deadline[0] - now))
                self._wait_change(seen, pause)
        return self.result(arn)

    def _time_out(self, arn: str, seconds: int) -> None:
        """The execution outlived its timeout in real time: it ends as the
        official's does (FAILED, 'Execution timed out after N seconds.')."""
        with self._lock:
            try:
                self._cstore.stop(arn, {"ErrorMessage": f"Execution timed out after {seconds} seconds."})
            except ConflictError:
                pass
        with self._cond:
            self._deadlines.pop(arn, None)
            self._bump()

    # -- callbacks ---------------------------------------------------------------
    def _answer(self, what: str, callback_id: str, call: Callable[[], None]) -> None:
        if not callback_id:
            raise InvalidParameterValueException("callback_id is required")
        self._check_open()
        with self._lock:
            try:
                call()
            except StoreError as e:
                raise ResourceNotFoundException(f"Failed to process callback {what}: {e}") from e
        with self._cond:
            self._bump()

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> None:
        """Answers a callback; result is the raw answer (its text, as the API takes it)."""
        self._answer("success", callback_id, lambda: self._cstore.callback_succeed(callback_id, result))

    def send_callback_failure(self, callback_id: str, error: ErrorObject | Mapping[str, Any] | None = None) -> None:
        if error is None:
            payload: dict[str, Any] = {}
        elif isinstance(error, Mapping):
            payload = dict(error)
        else:
            payload = error.to_dict()
        self._answer("failure", callback_id, lambda: self._cstore.callback_fail(callback_id, payload))

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self._answer("heartbeat", callback_id, lambda: self._cstore.callback_heartbeat(callback_id))

    # -- reading -----------------------------------------------------------------
    def describe(self, execution_arn: str) -> dict:
        """GetDurableExecution's shape (Status, Result, Error, ...)."""
        self._check_open()
        with self._lock:
            try:
                return self._cstore.describe(execution_arn)
            except NotFoundError as e:
                raise ResourceNotFoundException(str(e)) from e

    def _describe_or_none(self, execution_arn: str) -> dict | None:
        try:
            return self.describe(execution_arn)
        except ResourceNotFoundException:
            return None

    def history(self, execution_arn: str) -> list[dict]:
        """GetDurableExecutionHistory's events."""
        self._check_open()
        with self._lock:
            try:
                return self._cstore.history(execution_arn)
            except NotFoundError as e:
                raise ResourceNotFoundException(str(e)) from e

    def result(self, execution_arn: str) -> DurableFunctionTestResult:
        """The execution as it stands now (status PENDING while it runs)."""
        self._check_open()
        with self._lock:
            try:
                return DurableFunctionTestResult.from_store(self._cstore.describe(execution_arn),
                                                            self._cstore.operations(execution_arn))
            except NotFoundError as e:
                raise ResourceNotFoundException(str(e)) from e

    def executions(self, function_name: str | None = None) -> list[dict]:
        """ListDurableExecutions' entries of this runner's store (invoke targets included)."""
        self._check_open()
        with self._lock:
            return self._cstore.list(function_name)

    # -- shared state --------------------------------------------------------------
    def _bump(self) -> None:
        """Something changed (caller holds _cond)."""
        self._version += 1
        self._idle = False
        self._cond.notify_all()

    def _wait_change(self, seen: tuple[int, bool], timeout: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: (self._version, self._idle) != seen or self._closing,
                                timeout=max(0.0, timeout))

    @contextlib.contextmanager
    def _attending(self) -> Iterator[None]:
        with self._cond:
            self._attended += 1
            self._bump()
        try:
            yield
        finally:
            with self._cond:
                self._attended -= 1

    def _raise_driver_error(self) -> None:
        error = self._driver_error
        if error is not None:
            raise DurableFunctionsTestError(f"the runner's worker thread failed: {error!r}") from error

    # -- the worker thread -----------------------------------------------------------
    def _ensure_thread(self) -> None:
        with self._cond:
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(target=self._drive, name="perdure-testing-worker", daemon=True)
                self._thread.start()

    def _drive(self) -> None:
        try:
            self._drive_loop()
        except BaseException as e:  # noqa: BLE001  (reported to the waiting test)
            logger.exception("perdure.testing: the worker thread stopped")
            with self._cond:
                self._driver_error = e
                self._bump()

    def _drive_loop(self) -> None:
        while True:
            with self._cond:
                if self._closing:
                    return
                version = self._version
                if self._functions_changed or self._worker is None:
                    self._worker = Worker(dict(self._functions), self._wstore, worker_id="perdure-testing")
                    self._served = {key.partition("@")[0] for key in self._functions}
                    self._functions_changed = False
                worker = self._worker
            try:
                ran = worker.run_one(0)
            except Exception as e:  # noqa: BLE001  (a store error: reported, then tried again)
                logger.exception("perdure.testing: an invocation could not be completed")
                with self._cond:
                    self._driver_error = e
                    self._bump()
                    self._cond.wait(0.05)
                continue
            if ran:
                with self._cond:
                    self.invocations += 1
                    self._bump()
                continue
            self._plan_idle(version)

    def _plan_idle(self, version: int) -> None:
        """Nothing is ready: skip the clock, or sleep until something may be."""
        due = self._next_wakeup()
        now = self.clock.now_ms()
        timers: set[int] = set()
        deadlines: set[int] = set()
        unserved: set[str] = set()
        if due < 0 or due > now:
            timers, deadlines, unserved = self._timers()
        with self._cond:
            if self._version != version or self._closing:
                return
            attended = self._attended > 0
        if 0 <= due <= now:
            # Due, yet nothing could be leased (e.g. a lease still being
            # released): look again shortly.
            kind = "now"
        elif due < 0:
            kind = "none"
        elif due in timers:
            kind = "timer"
        elif due in deadlines:
            kind = "deadline"
        else:
            kind = "callback"     # a callback or heartbeat timeout
        if self._skip_time and (kind == "timer" or (kind == "callback" and attended)):
            self.clock.advance_to(due)
            return
        idle = kind in ("none", "deadline")
        if kind == "now":
            pause: float | None = 0.005
        elif kind == "none" or (kind == "deadline" and self._skip_time):
            pause = None
        else:
            pause = max(0.0, (due - now) / 1000)
        with self._cond:
            if self._version != version or self._closing:
                return
            if idle != self._idle or unserved != self._unserved:
                self._idle, self._unserved = idle, unserved
                self._cond.notify_all()
            self._cond.wait(pause)

    def _next_wakeup(self) -> int:
        from perdure._native import ffi, lib

        worker = self._worker
        due = ffi.new("long long *")
        self._wstore.check(lib.perdure_store_next_wakeup(self._wstore.handle, worker._refs,  # noqa: SLF001
                                                         len(worker._names), due))  # noqa: SLF001
        return due[0]

    def _timers(self) -> tuple[set[int], set[int], set[str]]:
        """(wait and retry timers, execution deadlines) of the running
        executions in epoch ms, and the functions of running executions that
        nobody serves."""
        timers: set[int] = set()
        deadlines: set[int] = set()
        unserved: set[str] = set()
        store = self._wstore
        for execution in store.list(status="RUNNING"):
            function = _function_name(execution.get("FunctionArn", ""))
            if function not in self._served:
                unserved.add(function)
                continue
            arn = execution["DurableExecutionArn"]
            deadline = self._execution_deadline_ms.get(arn)
            if deadline is None:
                started = store.history(arn, include_data=False)[0]
                timeout_s = (started.get("ExecutionStartedDetails") or {}).get("ExecutionTimeout") or 0
                deadline = _ms(execution["StartTimestamp"]) + int(timeout_s) * 1000
                self._execution_deadline_ms[arn] = deadline
            deadlines.add(deadline)
            for op in store.operations(arn):
                if op.get("Type") == "WAIT" and op.get("Status") == "STARTED":
                    end = _ms((op.get("WaitDetails") or {}).get("ScheduledEndTimestamp"))
                elif op.get("Type") == "STEP" and op.get("Status") == "PENDING":
                    end = _ms((op.get("StepDetails") or {}).get("NextAttemptTimestamp"))
                else:
                    continue
                if end is not None:
                    timers.add(end)
        return timers, deadlines, unserved


class DurableChildContextTestRunner(DurableFunctionTestRunner):
    """Runs a @durable_with_child_context function on its own: the runner's
    handler calls `context_function(*args, **kwargs)(context)`."""

    def __init__(self, context_function: Callable, *args, skip_time: bool = True, **kwargs):
        @durable_execution
        def handler(event, context):  # noqa: ARG001
            return context_function(*args, **kwargs)(context)

        super().__init__(handler, skip_time=skip_time)
