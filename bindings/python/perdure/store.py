"""The embedded service: a SQLite file of executions (perdure_store_*).

Readers return the AWS API's JSON shapes decoded into dicts. Errors raise
StoreError subclasses carrying the store's message.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from perdure._engine import ErrorInfo, cstr
from perdure._native import ffi, lib, status_name, take_buf, text


class StoreError(Exception):
    """A store call failed; `status` is the perdure_status name."""

    def __init__(self, message: str, status: str = ""):
        super().__init__(message)
        self.status = status


class NotFoundError(StoreError):
    """Unknown execution or callback id."""


class ConflictError(StoreError):
    """Already answered, completed or ended."""


class StoreBusyError(StoreError):
    """The file is locked by another process for longer than the busy timeout."""


_ERRORS = {
    lib.PERDURE_E_NOT_FOUND: NotFoundError,
    lib.PERDURE_E_CONFLICT: ConflictError,
    lib.PERDURE_E_BUSY: StoreBusyError,
}

DEFAULT_PATH = "perdure.db"


def default_path() -> str:
    """$PERDURE_STORE, else ./perdure.db (the CLI's default too)."""
    return os.environ.get("PERDURE_STORE") or DEFAULT_PATH


class Store:
    """An open store file. One Store is used by one thread at a time."""

    def __init__(self, path: str | None = None, *, clock: Callable[[], int] | None = None, lease_ms: int = 0,
                 synchronous_normal: bool = False):
        self.path = path or default_path()
        opts = ffi.new("perdure_store_options *")
        opts.size = ffi.sizeof("perdure_store_options")
        opts.lease_ms = lease_ms
        opts.synchronous_normal = int(synchronous_normal)
        self._clock = None
        if clock is not None:
            # Kept alive with the store: the C side calls it for "now".
            self._clock = ffi.callback("long long(void *)", lambda _user: int(clock()))
            opts.clock = self._clock
        out = ffi.new("perdure_store **")
        st = lib.perdure_store_open(self.path.encode(), opts, out)
        self._store = out[0]
        if st:
            message = self.errmsg()
            self.close()
            raise _ERRORS.get(st, StoreError)(f"cannot open store {self.path}: {message}", status_name(st))

    @property
    def handle(self):
        if self._store is None:
            raise StoreError("the store is closed")
        return self._store

    def errmsg(self) -> str:
        return text(lib.perdure_store_errmsg(self._store)) or "" if self._store is not None else ""

    def check(self, st: int) -> None:
        if st:
            raise _ERRORS.get(st, StoreError)(self.errmsg() or status_name(st), status_name(st))

    def close(self) -> None:
        if self._store is not None:
            lib.perdure_store_close(self._store)
            self._store = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def now(self) -> int:
        """The store's clock, epoch ms."""
        return lib.perdure_store_now(self.handle)

    # -- executions --------------------------------------------------------------
    def start(self, function_name: str, input: Any = None, *, name: str | None = None,  # noqa: A002
              version: str | None = None, execution_timeout: int = 0, input_json: str | None = None) -> str:
        """Starts an execution (or finds the one already started under `name`); returns its ARN."""
        opts = ffi.new("perdure_start_options *")
        opts.size = ffi.sizeof("perdure_start_options")
        keep = [cstr(function_name), cstr(version), cstr(name)]
        opts.function_name, opts.version, opts.name = keep
        payload = (input_json if input_json is not None else json.dumps(input)).encode("utf-8")
        payload_buf = ffi.from_buffer(payload)
        opts.input = payload_buf
        opts.input_len = len(payload)
        opts.execution_timeout_seconds = execution_timeout
        arn = ffi.new("perdure_buf *")
        existed = ffi.new("int *")
        self.check(lib.perdure_store_start(self.handle, opts, arn, existed))
        return take_buf(arn).rstrip(b"\0").decode()

    def _json(self, fn, *args) -> dict:
        buf = ffi.new("perdure_buf *")
        self.check(fn(self.handle, *args, buf))
        return json.loads(take_buf(buf))

    def describe(self, arn: str) -> dict:
        """GetDurableExecution's shape: Status, Result, Error, ..."""
        return self._json(lib.perdure_store_describe, arn.encode())

    def list(self, function_name: str | None = None, status: str | None = None) -> list[dict]:
        return self._json(lib.perdure_store_list, cstr(function_name), cstr(status))["DurableExecutions"]

    def operations(self, arn: str) -> list[dict]:
        return self._json(lib.perdure_store_operations, arn.encode())["Operations"]

    def history(self, arn: str, include_data: bool = True) -> list[dict]:
        return self._json(lib.perdure_store_history, arn.encode(), int(include_data))["Events"]

    def stop(self, arn: str, error: dict | None = None) -> None:
        info = ErrorInfo(error or {})
        self.check(lib.perdure_store_stop(self.handle, arn.encode(), info.c if error else ffi.NULL))

    # -- callbacks ---------------------------------------------------------------
    def callback_succeed(self, callback_id: str, result: str | bytes | None = None) -> None:
        """Answers a callback; `result` is the raw body (text), as the AWS API takes it."""
        data = result.encode("utf-8") if isinstance(result, str) else result
        self.check(lib.perdure_store_callback_succeed(self.handle, callback_id.encode(),
                                                      data if data is not None else ffi.NULL, len(data or b"")))

    def callback_fail(self, callback_id: str, error: dict | None = None) -> None:
        """error: {"ErrorType", "ErrorMessage", "ErrorData", "StackTrace"} (all optional)."""
        info = ErrorInfo(error or {})
        self.check(lib.perdure_store_callback_fail(self.handle, callback_id.encode(), info.c))

    def callback_heartbeat(self, callback_id: str) -> None:
        self.check(lib.perdure_store_callback_heartbeat(self.handle, callback_id.encode()))

    def release_worker(self, worker_id: str) -> int:
        """Expires the leases of a worker that died; returns how many."""
        out = ffi.new("unsigned int *")
        self.check(lib.perdure_store_release_worker(self.handle, worker_id.encode(), out))
        return out[0]
