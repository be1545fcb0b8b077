"""Shared fixtures of the Python SDK tests (tests/python).

The SDK is imported from the source checkout (bindings/python), which loads
the repository's build of libperdure (build/libperdure.so.0).

`durable` gives a Harness: a real store file in tmp_path and a real
perdure.Worker serving the test's handlers. Store time is the wall clock plus
an offset the harness skips forward whenever nothing is ready but a timer
(wait, retry delay, condition poll) is due, so that waits of seconds or
minutes take no real time while every invocation still goes through the
store, the lease and the replay VM exactly as in production.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

_BINDING = Path(__file__).resolve().parents[2] / "bindings" / "python"
if str(_BINDING) not in sys.path:
    sys.path.insert(0, str(_BINDING))

from perdure import Store, Worker  # noqa: E402
from perdure._native import ffi, lib  # noqa: E402

# The modules of this suite that get the hang guard below (the other test
# files of this directory belong to other suites and keep their own rules).
GUARDED_MODULES = {"test_context_ops", "test_bad_input", "test_worker_crash"}
DEFAULT_HANG_LIMIT_S = 20


class HangTimeout(BaseException):
    """Raised in the main thread when a test runs for too long. A BaseException
    so that no `except Exception` of the SDK or of a handler swallows it: it
    interrupts even a Condition.wait() that would never be notified."""


TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"}

# A timer further away than this is not skipped to: the execution waits for
# the outside world (a callback answer), and its only timer is the execution
# timeout (a year by default).
MAX_SKIP_MS = 24 * 3600 * 1000


class Harness:
    """A store file with a skippable clock and a worker serving `functions`."""

    def __init__(self, path: Path, functions: Mapping[str, Callable]):
        self.path = str(path)
        self.offset_ms = 0
        self.store = Store(self.path, clock=self._now)
        self.worker = Worker(functions, self.store, worker_id="test-worker")
        self.invocations = 0

    def _now(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def close(self) -> None:
        self.worker.close()
        self.store.close()

    # -- driving ---------------------------------------------------------------
    def start(self, function: str, input=None, **kwargs) -> str:  # noqa: A002
        return self.store.start(function, input, **kwargs)

    def next_wakeup(self) -> int:
        """Epoch ms at which something of the served functions becomes ready (-1: nothing)."""
        due = ffi.new("long long *")
        self.store.check(lib.perdure_store_next_wakeup(self.store.handle, self.worker._refs,  # noqa: SLF001
                                                       len(self.worker._names), due))  # noqa: SLF001
        return due[0]

    def step(self) -> bool:
        """Runs one ready invocation, or skips the clock to the next timer;
        False when nothing is ready and nothing is due soon (idle)."""
        if self.worker.run_one(0):
            self.invocations += 1
            return True
        due = self.next_wakeup()
        now = self.store.now()
        if due < 0 or due - now > MAX_SKIP_MS:
            return False
        self.offset_ms += max(0, due - now) + 1
        return True

    def run_until_idle(self, limit: int = 200) -> None:
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError(f"still busy after {limit} turns")

    def run(self, arn: str, limit: int = 200) -> dict:
        """Drives the execution until it ends or the store goes idle; returns describe()."""
        for _ in range(limit):
            if self.describe(arn)["Status"] in TERMINAL:
                break
            if not self.step():
                break
        return self.describe(arn)

    def execute(self, function: str, input=None, **kwargs) -> tuple[str, dict]:  # noqa: A002
        arn = self.start(function, input, **kwargs)
        return arn, self.run(arn)

    # -- reading ---------------------------------------------------------------
    def describe(self, arn: str) -> dict:
        return self.store.describe(arn)

    def history(self, arn: str) -> list[dict]:
        return self.store.history(arn)

    def operations(self, arn: str) -> list[dict]:
        return self.store.operations(arn)

    def result(self, arn: str):
        d = self.describe(arn)
        assert d["Status"] == "SUCCEEDED", d
        return json.loads(d["Result"])

    def error(self, arn: str) -> dict:
        d = self.describe(arn)
        assert d["Status"] == "FAILED", d
        return d["Error"]

    def callback_ids(self, arn: str) -> list[str]:
        return [op["CallbackDetails"]["CallbackId"] for op in self.operations(arn) if op["Type"] == "CALLBACK"]


@pytest.fixture(autouse=True)
def _hang_guard(request):
    """Turns a hang (a lost wake-up, a deadlock) into a failing test with the
    traceback of where it hung, instead of a suite that never ends.
    `@pytest.mark.hang_limit(seconds)` changes the limit."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    if module not in GUARDED_MODULES or threading.current_thread() is not threading.main_thread():
        yield
        return
    marker = request.node.get_closest_marker("hang_limit")
    limit = marker.args[0] if marker else DEFAULT_HANG_LIMIT_S

    def on_alarm(signum, frame):
        raise HangTimeout(f"{request.node.name} still running after {limit} s: it hangs")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_configure(config):
    config.addinivalue_line("markers", "hang_limit(seconds): the hang guard's limit for this test")


@pytest.fixture
def durable(tmp_path):
    """durable(functions) -> Harness over tmp_path/store.db (closed at teardown)."""
    made: list[Harness] = []

    def make(functions: Mapping[str, Callable], path: Path | None = None) -> Harness:
        h = Harness(path or tmp_path / "store.db", functions)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.fixture
def store_path(tmp_path) -> str:
    return str(tmp_path / "store.db")


def events(history: list[dict], *types: str, name: str | None = None) -> list[dict]:
    """The events of `history` whose EventType is one of `types` (and Name is `name`)."""
    return [e for e in history if e["EventType"] in types and (name is None or e.get("Name") == name)]


def event_types(history: list[dict], name: str | None = None) -> list[str]:
    return [e["EventType"] for e in history if name is None or e.get("Name") == name]
