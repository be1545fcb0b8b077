"""The clock a test runner hands its store.

Virtual time is the wall clock plus everything skipped so far: between skips
it runs at real speed (so timestamps stay distinct and ordered), and a skip
moves it straight to the next timer instead of sleeping until then.
"""
from __future__ import annotations

import datetime
import threading
import time


class VirtualClock:
    """Epoch milliseconds for the store (`now_ms`), skippable forward."""

    def __init__(self) -> None:
        self._skipped_ms = 0
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self._skipped_ms

    def now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.now_ms() / 1000, tz=datetime.UTC)

    @property
    def skipped(self) -> datetime.timedelta:
        """How much time the runner skipped in total."""
        return datetime.timedelta(milliseconds=self._skipped_ms)

    def advance_to(self, due_ms: int) -> int:
        """Moves virtual time to due_ms (never backwards); returns the ms skipped."""
        with self._lock:
            gap = due_ms - self.now_ms()
            if gap > 0:
                self._skipped_ms += gap
                return gap
            return 0
