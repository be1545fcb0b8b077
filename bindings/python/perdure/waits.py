"""Wait strategies of wait_for_condition.

Same public names, fields and defaults as
`aws_durable_execution_sdk_python.waits` (protocol.md 7.2). The polling delay
and the exhaustion decision come from libperdure (`perdure_wait_decide`) with
`random.random()` as the jitter's random number.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic

from perdure._native import ffi, lib, status_name
from perdure.config import Duration, JitterStrategy, T
from perdure.exceptions import ValidationError, WaitForConditionError

if TYPE_CHECKING:
    from collections.abc import Callable

    from perdure.serdes import SerDes

Numeric = int | float

_UINT_MAX = 0xFFFFFFFF
_JITTER_C = {
    JitterStrategy.FULL: lib.PERDURE_JITTER_FULL,
    JitterStrategy.NONE: lib.PERDURE_JITTER_NONE,
    JitterStrategy.HALF: lib.PERDURE_JITTER_HALF,
}


@dataclass
class WaitStrategyConfig(Generic[T]):
    """Polling: continue while should_continue_polling(state); delays grow as
    initial_delay * backoff_rate^(n-1), capped at max_delay."""

    should_continue_polling: Callable[[T], bool]
    max_attempts: int = 60
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(5))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    backoff_rate: Numeric = 1.5
    jitter_strategy: JitterStrategy = field(default=JitterStrategy.FULL)

    @property
    def initial_delay_seconds(self) -> int:
        return self.initial_delay.to_seconds()

    @property
    def max_delay_seconds(self) -> int:
        return self.max_delay.to_seconds()


@dataclass(frozen=True)
class WaitForConditionDecision:
    """Whether to check again, and after how long."""

    should_continue: bool
    delay: Duration

    @property
    def delay_seconds(self) -> int:
        return self.delay.to_seconds()

    @classmethod
    def continue_waiting(cls, delay: Duration) -> WaitForConditionDecision:
        return cls(should_continue=True, delay=delay)

    @classmethod
    def stop_polling(cls) -> WaitForConditionDecision:
        return cls(should_continue=False, delay=Duration())


def _exhausted(max_attempts: int) -> WaitForConditionError:
    return WaitForConditionError(f"wait_for_condition exhausted {max_attempts} attempts before the condition was met")


def create_wait_strategy(config: WaitStrategyConfig[T]) -> Callable[[T, int], WaitForConditionDecision]:
    """A wait strategy `(state, attempts_made) -> WaitForConditionDecision`.

    A satisfied condition stops polling, even on the last attempt. A condition
    still unmet when the attempts are used up raises WaitForConditionError.
    """

    def wait_strategy(result: T, attempts_made: int) -> WaitForConditionDecision:
        if not config.should_continue_polling(result):
            return WaitForConditionDecision.stop_polling()
        max_attempts = int(config.max_attempts)
        attempts_made = int(attempts_made)
        if max_attempts < 1:  # no attempt allowed at all (C rejects such a config)
            raise _exhausted(config.max_attempts)
        if attempts_made < 1:
            raise ValidationError(f"attempts_made is counted from 1, got: {attempts_made}")
        cfg = ffi.new("perdure_wait_config *")
        lib.perdure_wait_config_init(cfg)
        cfg.max_attempts = min(max_attempts, _UINT_MAX)
        cfg.initial_delay_seconds = config.initial_delay_seconds
        cfg.max_delay_seconds = config.max_delay_seconds
        cfg.backoff_rate = config.backoff_rate
        cfg.jitter = _JITTER_C[JitterStrategy(config.jitter_strategy)]
        out = ffi.new("perdure_retry_decision *")
        st = lib.perdure_wait_decide(cfg, min(attempts_made, _UINT_MAX), random.random(), out)
        if st != 0:
            raise ValidationError(
                f"invalid wait strategy ({status_name(st)}): max_attempts={config.max_attempts}, "
                f"initial_delay={config.initial_delay_seconds}, max_delay={config.max_delay_seconds}, "
                f"backoff_rate={config.backoff_rate}"
            )
        if not out.should_retry:
            raise _exhausted(config.max_attempts)
        return WaitForConditionDecision.continue_waiting(Duration(seconds=int(out.delay_seconds)))

    return wait_strategy


@dataclass(frozen=True)
class WaitForConditionConfig(Generic[T]):
    """Configuration of wait_for_condition."""

    wait_strategy: Callable[[T, int], WaitForConditionDecision]
    initial_state: T
    serdes: SerDes | None = None
