"""Serving durable functions from the embedded store.

A Worker leases ready executions of the functions it serves
(perdure_store_lease_wait: it sleeps without using CPU until something may be
ready), runs one invocation each through the replay VM and hands the output
back. `run()` is the one-shot form for scripts.
"""
from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

from perdure._engine import WIRE_MSGPACK, cstr
from perdure._native import ffi, lib, take_buf, text
from perdure.exceptions import InvocationError
from perdure.execution import run_invocation
from perdure.store import Store, StoreError

LATEST = "$LATEST"


def _split_name(key: str) -> tuple[str, str]:
    """"name" or "name@version"."""
    name, _, version = key.partition("@")
    return name, version or LATEST


class Worker:
    """Serves `functions` ({"name" or "name@version": handler}) from a store.

    Handlers are @durable_execution functions; a plain `f(event, context)` is
    served as a non-durable function (its return value ends the execution).
    """

    def __init__(self, functions: Mapping[str, Callable], store: str | Store | None = None, *,
                 worker_id: str | None = None, lease_ms: int = 0):
        if not functions:
            raise ValueError("a Worker needs at least one function")
        self._own_store = not isinstance(store, Store)
        self.store = store if isinstance(store, Store) else Store(store, lease_ms=lease_ms)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}"
        self._handlers: dict[str, Callable] = {}
        self._names = []
        for key, handler in functions.items():
            name, version = _split_name(key)
            self._handlers[name] = handler
            self._names.append((cstr(name), cstr(version)))
        self._refs = ffi.new("perdure_function_ref[]", len(self._names))
        for ref, (name, version) in zip(self._refs, self._names, strict=True):
            ref.name, ref.version = name, version
        self._stop = threading.Event()

    def close(self) -> None:
        if self._own_store:
            self.store.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def stop(self) -> None:
        """Asks serve_forever to return after the current invocation."""
        self._stop.set()

    def run_one(self, max_wait_ms: int = 0) -> bool:
        """Runs one invocation if one is ready within max_wait_ms; True if it did."""
        out = ffi.new("perdure_lease **")
        self.store.check(lib.perdure_store_lease_wait(self.store.handle, self._refs, len(self._names),
                                                      self.worker_id.encode(), max_wait_ms, out))
        lease = out[0]
        if lease == ffi.NULL:
            return False
        function = text(lib.perdure_lease_function(lease))
        data = ffi.new("const unsigned char **")
        size = ffi.new("unsigned long long *")
        lib.perdure_lease_input(lease, data, size)
        payload = bytes(ffi.buffer(data[0], size[0]))

        def transport(request: bytes) -> bytes:
            buf = ffi.new("perdure_buf *")
            st = lib.perdure_lease_checkpoint(lease, request, len(request), buf)
            if st:
                take_buf(buf)
                raise StoreError(text(lib.perdure_lease_errmsg(lease)) or "checkpoint failed")
            return take_buf(buf)

        try:
            output = run_invocation(self._handlers[function], payload, WIRE_MSGPACK, transport, self.store.now)
        except (InvocationError, MemoryError) as e:
            # The service re-invokes from the last checkpoint.
            lib.perdure_lease_abandon(lease, str(e).encode("utf-8", "replace"))
            return True
        except BaseException as e:
            lib.perdure_lease_abandon(lease, f"{type(e).__name__}: {e}".encode("utf-8", "replace"))
            raise
        st = lib.perdure_lease_complete(lease, output, len(output))
        if st and st != lib.PERDURE_E_CONFLICT:   # CONFLICT: the lease expired and was taken over
            self.store.check(st)
        return True

    def serve_forever(self, poll_ms: int = 1000) -> None:
        """Runs invocations until stop() is called."""
        while not self._stop.is_set():
            self.run_one(poll_ms)


TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"}


class ExecutionFailedError(Exception):
    """perdure.run: the execution ended other than SUCCEEDED."""

    def __init__(self, description: dict):
        error = description.get("Error") or {}
        super().__init__(f"execution {description.get('Status')}: {error.get('ErrorType', '')}: "
                         f"{error.get('ErrorMessage', '')}")
        self.description = description
        self.status = description.get("Status")
        self.error = error


def run(handler: Callable, input: Any = None, *, name: str | None = None,  # noqa: A002
        function_name: str | None = None, store: str | None = None) -> Any:
    """Runs one execution of `handler` to its end in this thread and returns
    its result (raises ExecutionFailedError if it fails).

    store: a store file (default ":memory:"). With a file, other processes
    can watch it and answer its callbacks (`perdure callback succeed ...`)
    while it waits; waits and retry delays take their real time.
    """
    fn_name = function_name or getattr(handler, "__name__", "handler")
    with Store(store or ":memory:") as st, Worker({fn_name: handler}, st) as worker:
        arn = st.start(fn_name, input, name=name)
        while (description := st.describe(arn))["Status"] not in TERMINAL:
            worker.run_one(1000)
        if description["Status"] != "SUCCEEDED":
            raise ExecutionFailedError(description)
        result = description.get("Result")
        return None if result is None else json.loads(result)
