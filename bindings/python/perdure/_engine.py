"""One invocation's replay VM (perdure_vm), shared by the contexts of a handler.

Everything that decides lives in C: replay, ids, retries, batching, when to
flush, when a map is complete, when to suspend. This module only moves bytes
between the VM, the transport (the service) and user code, maps statuses to
exceptions, and serialises VM calls of concurrent map/parallel branches with
one lock.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from perdure._native import ffi, lib, status_name, take_buf, text
from perdure.exceptions import (
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    DurableOperationError,
    ExecutionError,
    InvalidStateError,
    InvocationError,
    InvokeError,
    NonDeterministicExecutionError,
    StepError,
    ValidationError,
    WaitForConditionError,
)

WIRE_JSON = lib.PERDURE_WIRE_JSON
WIRE_MSGPACK = lib.PERDURE_WIRE_MSGPACK

NEXT_CHECKPOINT = lib.PERDURE_NEXT_CHECKPOINT
NEXT_EXECUTE = lib.PERDURE_NEXT_EXECUTE
NEXT_RESULT = lib.PERDURE_NEXT_RESULT
NEXT_ERROR = lib.PERDURE_NEXT_ERROR
NEXT_SUSPEND = lib.PERDURE_NEXT_SUSPEND
NEXT_INTERRUPTED = lib.PERDURE_NEXT_INTERRUPTED

# perdure_error_kind -> the exception user code catches.
_ERROR_CLASSES: dict[int, type[DurableOperationError]] = {
    lib.PERDURE_ERRK_STEP: StepError,
    lib.PERDURE_ERRK_STEP_INTERRUPTED: StepError,
    lib.PERDURE_ERRK_CALLBACK_FAILED: CallbackExternalError,
    lib.PERDURE_ERRK_CALLBACK_TIMEOUT: CallbackTimeoutError,
    lib.PERDURE_ERRK_CALLBACK_SUBMITTER: CallbackSubmitterError,
    lib.PERDURE_ERRK_CHILD: ChildContextError,
    lib.PERDURE_ERRK_INVOKE: InvokeError,
    lib.PERDURE_ERRK_WAIT_FOR_CONDITION: WaitForConditionError,
}


class TransportError(InvocationError):
    """The service could not be reached or refused a checkpoint: the
    invocation is abandoned and re-run from its last checkpoint."""


class _Bodies(threading.local):
    """Per thread: the name of the step-like body running in it, if any."""

    running: str | None = None   # a class default: reading it raises nothing


class ErrorInfo:
    """A perdure_error_info whose strings stay alive as long as this object."""

    def __init__(self, error: dict):
        self._keep = []
        self.c = ffi.new("perdure_error_info *")
        for key, field in (("ErrorType", "error_type"), ("ErrorMessage", "error_message"),
                           ("ErrorData", "error_data")):
            value = error.get(key)
            if value is not None:
                setattr(self.c, field, self._str(value))
        trace = error.get("StackTrace")
        if trace:
            lines = [self._str(line) for line in trace]
            array = ffi.new("const char *[]", lines)
            self._keep.append(array)
            self.c.stack_trace = array
            self.c.stack_trace_len = len(lines)

    def _str(self, value) -> object:
        s = ffi.new("char[]", str(value).encode("utf-8", "surrogatepass"))
        self._keep.append(s)
        return s


def cstr(value: str | None):
    """A NUL-terminated copy of value for a struct field or an array (NULL for None)."""
    return ffi.NULL if value is None else ffi.new("char[]", value.encode("utf-8"))


def arg(value: str | None):
    """value for a `const char *` argument of a call: cffi passes bytes as a
    pointer to their NUL-terminated buffer, without the copy cstr makes."""
    return ffi.NULL if value is None else value.encode("utf-8")


class Engine:
    """A perdure_vm for one invocation plus the transport that carries its
    checkpoint batches to the service.

    transport(request: bytes) -> response bytes, in the VM's wire format.
    """

    def __init__(self, wire: int, transport: Callable[[bytes], bytes]):
        opts = ffi.new("perdure_vm_options *")
        opts.size = ffi.sizeof("perdure_vm_options")
        lib.perdure_vm_options_init(opts)
        opts.wire = wire
        self.options = opts
        out = ffi.new("perdure_vm **")
        self._vm = None
        st = lib.perdure_vm_new(opts, out)
        if st:
            raise (MemoryError if st == lib.PERDURE_E_NOMEM else RuntimeError)(f"perdure_vm_new: {status_name(st)}")
        self._vm = out[0]
        self._transport = transport
        self._broken: Exception | None = None   # a transport failure seen by the ticker
        self._ticker: threading.Thread | None = None
        self._stop_ticker = threading.Event()
        self.lock = threading.RLock()
        self.bodies = _Bodies()
        # Notified whenever a map/parallel item reports its outcome.
        self.changed = threading.Condition(self.lock)
        self._waiting = 0   # threads in wait_changed
        self.active = False
        self.arn = ""
        # Out-parameters of VM calls, allocated once: every call is made under
        # self.lock and its outputs are read before the lock is released.
        self._out_op = ffi.new("perdure_op *")
        self._out_next = ffi.new("perdure_next *")
        self._out_data = ffi.new("const unsigned char **")
        self._out_size = ffi.new("unsigned long long *")
        self._out_uint = ffi.new("unsigned int *")
        self._out_str = ffi.new("const char **")
        self._out_buf = ffi.new("perdure_buf *")
        # perdure_vm_step_next's in-out structs: one that asks for the plain
        # JSON of the result (steps with the default serdes), one that does not.
        self._step_io = ffi.new("perdure_step_next_io *")
        self._step_io.size = ffi.sizeof("perdure_step_next_io")
        self._step_io_plain = ffi.new("perdure_step_next_io *")
        self._step_io_plain.size = ffi.sizeof("perdure_step_next_io")
        self._grow_plain(4096)

    def _grow_plain(self, cap: int) -> None:
        """The buffer perdure_vm_step_next writes plain JSON into."""
        self._plain = ffi.new("unsigned char[]", cap)
        self._step_io_plain.plain = self._plain
        self._step_io_plain.plain_cap = cap

    # -- lifecycle -------------------------------------------------------------
    def start(self, payload: bytes, now_ms: int) -> None:
        self.check(lib.perdure_vm_start(self._vm, payload, len(payload), now_ms))
        if lib.perdure_vm_state_marker(self._vm) != ffi.NULL:
            raise ExecutionError("the invocation input is paged (NextMarker); this transport cannot fetch "
                                 "the remaining state")
        self.arn = text(lib.perdure_vm_execution_arn(self._vm)) or ""
        self.active = True

    def input(self) -> bytes:
        with self.lock:
            data, size = self._out_data, self._out_size
            self.check(lib.perdure_vm_input(self._vm, data, size))
            return ffi.buffer(data[0], size[0])[:] if size[0] else b""

    def start_ticker(self, clock: Callable[[], int], period_s: float = 0.05) -> None:
        """Keeps the VM's clock moving while user code runs, so that queued
        updates the VM wants out (a START behind a long step body) are flushed
        even when no operation call comes; the VM decides when."""

        def tick():
            while not self._stop_ticker.wait(period_s):
                with self.lock:
                    if not self.active or self._vm is None or self._broken is not None:
                        return
                    lib.perdure_vm_set_now(self._vm, clock())
                    try:
                        self.flush()
                    except Exception as e:  # noqa: BLE001  (raised in the handler's thread at its next flush)
                        self._broken = e

        self._ticker = threading.Thread(target=tick, name="perdure-ticker", daemon=True)
        self._ticker.start()

    def close(self) -> None:
        self._stop_ticker.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join()
        with self.lock:
            self.active = False
            if self._vm is not None:
                lib.perdure_vm_free(self._vm)
                self._vm = None

    @property
    def vm(self):
        """The VM, for calls made while the handler runs."""
        if not self.active or self._vm is None:
            raise InvalidStateError("this DurableContext belongs to an invocation that has already ended: "
                                    "contexts cannot be used after the handler returned")
        return self._vm

    def is_replaying(self) -> bool:
        with self.lock:
            return bool(self._vm is not None and lib.perdure_vm_is_replaying(self._vm))

    # -- errors ----------------------------------------------------------------
    def errmsg(self) -> str:
        return text(lib.perdure_vm_errmsg(self._vm)) if self._vm is not None else ""

    def check(self, st: int) -> None:
        if st:
            raise self.exception(st)

    def exception(self, st: int) -> Exception:
        """The exception for a failed VM call, with the VM's message."""
        message = self.errmsg() or status_name(st)
        if st == lib.PERDURE_E_NONDETERMINISM:
            return NonDeterministicExecutionError(message)
        if st in (lib.PERDURE_E_INVALID, lib.PERDURE_E_TOO_LARGE):
            return ValidationError(message)
        if st == lib.PERDURE_E_MISUSE:
            return InvalidStateError(message)
        if st == lib.PERDURE_E_NOMEM:
            return MemoryError(message)
        return ExecutionError(f"{status_name(st)}: {message}")

    # -- driving operations ------------------------------------------------------
    def wait_changed(self, timeout: float) -> None:
        """Waits (holding the lock) until notify_changed or the timeout."""
        self._waiting += 1
        try:
            self.changed.wait(timeout)
        finally:
            self._waiting -= 1

    def notify_changed(self) -> None:
        """Wakes wait_changed (caller holds the lock); free when nobody waits,
        as outside map/parallel."""
        if self._waiting:
            self.changed.notify_all()

    def flush(self) -> None:
        """Sends batches until no synchronous update waits (caller holds the lock)."""
        vm = self.vm
        if self._broken is not None:
            raise TransportError(f"checkpoint failed: {self._broken}") from self._broken
        buf = self._out_buf
        while lib.perdure_vm_wants_flush(vm):
            self.check(lib.perdure_vm_take_batch(vm, buf))
            request = take_buf(buf)
            try:
                response = self._transport(request)
            except Exception as e:
                raise TransportError(f"checkpoint failed: {e}") from e
            st = lib.perdure_vm_apply_response(vm, response, len(response))
            if st:
                raise TransportError(f"checkpoint response refused: {self.errmsg()}")
            # An acknowledged update may settle a map/parallel item.
            self.notify_changed()

    def drive(self, op: int) -> int:
        """perdure_vm_op_next until it says something other than CHECKPOINT."""
        with self.lock:
            return self._drive(self.vm, op)

    def _drive(self, vm, op: int) -> int:
        nxt = self._out_next
        while True:
            st = lib.perdure_vm_op_next(vm, op, nxt)
            if st:
                raise self.exception(st)
            if nxt[0] != NEXT_CHECKPOINT:
                # A map/parallel item settles inside op_next: wake the map's thread.
                self.notify_changed()
                return nxt[0]
            self.flush()

    def result(self, op: int) -> str | None:
        """The recorded result of op as text (None when there is none)."""
        with self.lock:
            data, size = self._out_data, self._out_size
            st = lib.perdure_vm_op_result(self.vm, op, data, size)
            if st:
                raise self.exception(st)
            ptr = data[0]
            return ffi.buffer(ptr, size[0])[:].decode("utf-8") if ptr else None   # NULL: no result

    def error(self, op: int) -> DurableOperationError:
        """The recorded error of op as the exception user code catches."""
        with self.lock:
            view = ffi.new("perdure_error_view *")
            self.check(lib.perdure_vm_op_error(self.vm, op, view))
            cls = _ERROR_CLASSES.get(view.kind, StepError)
            trace = [text(view.stack_trace[i]) for i in range(view.stack_trace_len)] if view.stack_trace_len else None
            message = text(view.error_message)
            if message is None:
                message = "Callback timed out" if cls is CallbackTimeoutError else (
                    "Callback failed" if cls is CallbackExternalError else "")
            return cls(message, error_type=text(view.error_type), data=text(view.error_data),
                       stack_trace=trace)

    def op_id(self, op: int) -> str:
        with self.lock:
            return text(lib.perdure_vm_op_id(self.vm, op)) or ""

    def attempt(self, op: int) -> int:
        with self.lock:
            out = self._out_uint
            self.check(lib.perdure_vm_op_attempt(self.vm, op, out))
            return out[0]

    def callback_id(self, op: int) -> str:
        with self.lock:
            out = self._out_str
            self.check(lib.perdure_vm_op_callback_id(self.vm, op, out))
            return text(out[0]) or ""

    def succeed(self, op: int, payload: str | None) -> None:
        with self.lock:
            data = b"" if payload is None else payload.encode("utf-8")
            self.check(lib.perdure_vm_op_succeed(self.vm, op, data if payload is not None else ffi.NULL,
                                                  len(data)))
            self.notify_changed()

    def fail(self, op: int, error: dict, decision: tuple[bool, int] | None = None) -> None:
        """Reports a failed body; decision (should_retry, delay) comes from a
        user-written retry strategy, None lets the VM's strategy decide."""
        with self.lock:
            info = ErrorInfo(error)
            if decision is None:
                self.check(lib.perdure_vm_op_fail(self.vm, op, info.c))
            else:
                self.check(lib.perdure_vm_op_fail_decided(self.vm, op, info.c, int(decision[0]), int(decision[1])))
            self.notify_changed()

    def suspended(self, op: int) -> None:
        with self.lock:
            self.check(lib.perdure_vm_op_suspended(self.vm, op))
            self.notify_changed()

    def set_summary(self, op: int, summary: str) -> None:
        with self.lock:
            data = summary.encode("utf-8")
            self.check(lib.perdure_vm_op_set_summary(self.vm, op, data, len(data)))

    def step(self, ctx: int, name, cfg, plain: bool) -> tuple[int, int, str | None, bool]:
        """perdure_vm_step_next, then drive() if a checkpoint comes first:
        (op, what comes next, text, is_plain). When next is RESULT, text is
        the recorded result, or with plain=True and is_plain its plain JSON
        (which result() reads back as recorded); otherwise None. A replayed
        step thus takes one call across the FFI."""
        with self.lock:
            vm = self.vm
            io = self._step_io_plain if plain else self._step_io
            st = lib.perdure_vm_step_next(vm, ctx, name, cfg, io)
            if st:
                raise self.exception(st)
            op, nxt = io.op, io.next
            if nxt == NEXT_CHECKPOINT:
                self.flush()
                nxt = self._drive(vm, op)
                return op, nxt, (self.result(op) if nxt == NEXT_RESULT else None), False
            if self._waiting:   # notify_changed(), without a call when nobody waits
                self.changed.notify_all()
            if nxt != NEXT_RESULT:
                return op, nxt, None, False
            size = io.plain_len
            if size:
                try:
                    return op, nxt, str(ffi.buffer(self._plain, size), "utf-8"), True
                except UnicodeDecodeError:
                    pass   # the recorded text's own error comes below
            ptr, size = io.result, io.result_len
            if plain and size > io.plain_cap:   # not tried: room for the next one this long
                self._grow_plain(2 * size)
            return op, nxt, (ffi.buffer(ptr, size)[:].decode("utf-8") if ptr != ffi.NULL else None), False

    def call(self, fn, *args) -> int:
        """Declares an operation: fn(vm, *args, &op) -> the op handle."""
        with self.lock:
            return self._call(self.vm, fn, args)

    def _call(self, vm, fn, args: tuple) -> int:
        out = self._out_op
        st = fn(vm, *args, out)
        if st:
            raise self.exception(st)
        return out[0]

    # -- ending ----------------------------------------------------------------
    def finish(self, outcome: int, payload: bytes | None, error: dict | None) -> bytes:
        """perdure_vm_finish + flush + perdure_vm_output: the invocation output."""
        with self.lock:
            vm = self.vm
            info = ErrorInfo(error) if error else None
            nxt = self._out_next
            data = payload if payload is not None else ffi.NULL
            self.check(lib.perdure_vm_finish(vm, outcome, data, len(payload or b""),
                                              info.c if info else ffi.NULL, nxt))
            if nxt[0] == NEXT_CHECKPOINT:
                self.flush()
            buf = self._out_buf
            self.check(lib.perdure_vm_output(vm, buf))
            return take_buf(buf)

    def failed_output(self, error: dict) -> bytes:
        """The FAILED output without touching the VM (which may be poisoned)."""
        info = ErrorInfo(error)
        buf = ffi.new("perdure_buf *")
        st = lib.perdure_output_failed(self.options, info.c, buf)
        if st:
            raise MemoryError(f"perdure_output_failed: {status_name(st)}")
        return take_buf(buf)
