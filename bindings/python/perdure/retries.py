"""Retry strategies: ready-made presets, strategy builders and with_retry.

Same public names, fields and defaults as
`aws_durable_execution_sdk_python.retries` (protocol.md 7.3). A strategy is a
callable `(error, attempts_made) -> RetryDecision`, where attempts_made is the
1-based number of the attempt that just failed.

The decision itself (attempts left, backoff, cap, jitter, rounding, the
one-second floor) is computed by libperdure (`perdure_retry_decide`), the same
code the engine runs for every step, with `random.random()` as the jitter's
random number. Only the error filters are evaluated here, because a Python
regular expression or an isinstance check cannot be expressed in C: a string
filter is a substring of str(error), a compiled pattern is searched in it, and
a type matches by isinstance. With neither filter list set every error is
retryable; a list that is set but empty matches nothing.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from perdure._native import ffi, lib, status_name
from perdure.config import Duration, JitterStrategy
from perdure.exceptions import SuspendExecution, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from perdure.config import ChildConfig
    from perdure.types import DurableContext

T = TypeVar("T")

Numeric = int | float

_UINT_MAX = 0xFFFFFFFF
_JITTER_C = {
    JitterStrategy.FULL: lib.PERDURE_JITTER_FULL,
    JitterStrategy.NONE: lib.PERDURE_JITTER_NONE,
    JitterStrategy.HALF: lib.PERDURE_JITTER_HALF,
}
_JITTER_PY = {value: key for key, value in _JITTER_C.items()}
_NO_ERROR = ffi.new("perdure_error_info *")  # the error is judged by the filters, not by C


@dataclass
class RetryDecision:
    """Whether to retry, and after how long."""

    should_retry: bool
    delay: Duration

    @property
    def delay_seconds(self) -> int:
        return self.delay.to_seconds()

    @classmethod
    def retry(cls, delay: Duration) -> RetryDecision:
        return cls(should_retry=True, delay=delay)

    @classmethod
    def no_retry(cls) -> RetryDecision:
        return cls(should_retry=False, delay=Duration())


@dataclass
class RetryStrategyConfig:
    """Exponential backoff: initial_delay * backoff_rate^(n-1), capped at max_delay."""

    max_attempts: int = 3
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(5))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    backoff_rate: Numeric = 2.0
    jitter_strategy: JitterStrategy = field(default=JitterStrategy.FULL)
    retryable_errors: list[str | re.Pattern] | None = None
    retryable_error_types: list[type[Exception]] | None = None

    @property
    def initial_delay_seconds(self) -> int:
        return self.initial_delay.to_seconds()

    @property
    def max_delay_seconds(self) -> int:
        return self.max_delay.to_seconds()


@dataclass
class LinearRetryStrategyConfig:
    """Linear backoff: initial_delay + increment * (n-1), capped at max_delay."""

    max_attempts: int = 6
    initial_delay: Duration = field(default_factory=lambda: Duration.from_seconds(1))
    increment: Duration = field(default_factory=lambda: Duration.from_seconds(1))
    max_delay: Duration = field(default_factory=lambda: Duration.from_minutes(5))
    jitter_strategy: JitterStrategy = field(default=JitterStrategy.FULL)
    retryable_errors: list[str | re.Pattern] | None = None
    retryable_error_types: list[type[Exception]] | None = None

    @property
    def initial_delay_seconds(self) -> int:
        return self.initial_delay.to_seconds()

    @property
    def increment_seconds(self) -> int:
        return self.increment.to_seconds()

    @property
    def max_delay_seconds(self) -> int:
        return self.max_delay.to_seconds()


# ---------------------------------------------------------------------------
# Filters (Python) and decisions (C)
# ---------------------------------------------------------------------------


def _error_filter(
    messages: list[str | re.Pattern] | None, types: list[type[Exception]] | None
) -> Callable[[Exception], bool]:
    """The filter predicate of a config: no list at all matches every error."""
    if messages is None and types is None:
        return lambda error: True
    messages = list(messages or ())
    types = tuple(types or ())

    def matches(error: Exception) -> bool:
        text = str(error)
        for pattern in messages:
            if isinstance(pattern, re.Pattern):
                if pattern.search(text):
                    return True
            elif pattern in text:
                return True
        return bool(types) and isinstance(error, types)

    return matches


def _new_c_config():
    cfg = ffi.new("perdure_retry_config *")
    cfg.size = ffi.sizeof("perdure_retry_config")
    return cfg


def _c_preset(preset: int):
    """A libperdure preset (perdure_retry_config_preset)."""
    cfg = _new_c_config()
    st = lib.perdure_retry_config_preset(cfg, preset)
    if st != 0:
        raise ValidationError(f"perdure_retry_config_preset({preset}) failed: {status_name(st)}")
    return cfg


def _decide(
    *,
    linear: bool,
    max_attempts: int,
    initial: float,
    max_delay: float,
    rate: float,
    increment: float,
    jitter: JitterStrategy,
    attempts_made: int,
) -> RetryDecision:
    """perdure_retry_decide for a filter-free config built from these values."""
    max_attempts = int(max_attempts)
    attempts_made = int(attempts_made)
    if max_attempts < 1:  # no attempt allowed at all: nothing to retry (C rejects such a config)
        return RetryDecision.no_retry()
    if attempts_made < 1:
        raise ValidationError(f"attempts_made is counted from 1, got: {attempts_made}")
    cfg = _new_c_config()
    cfg.max_attempts = min(max_attempts, _UINT_MAX)
    cfg.backoff = lib.PERDURE_BACKOFF_LINEAR if linear else lib.PERDURE_BACKOFF_EXPONENTIAL
    cfg.initial_delay_seconds = initial
    cfg.max_delay_seconds = max_delay
    cfg.backoff_rate = rate
    cfg.increment_seconds = increment
    cfg.jitter = _JITTER_C[JitterStrategy(jitter)]
    out = ffi.new("perdure_retry_decision *")
    st = lib.perdure_retry_decide(cfg, min(attempts_made, _UINT_MAX), _NO_ERROR, random.random(), out)
    if st != 0:
        raise ValidationError(
            f"invalid retry strategy ({status_name(st)}): max_attempts={max_attempts}, "
            f"initial_delay={initial}, max_delay={max_delay}, "
            + (f"increment={increment}" if linear else f"backoff_rate={rate}")
        )
    if not out.should_retry:
        return RetryDecision.no_retry()
    return RetryDecision.retry(Duration(seconds=int(out.delay_seconds)))


def create_retry_strategy(config: RetryStrategyConfig | None = None) -> Callable[[Exception, int], RetryDecision]:
    """An exponential-backoff strategy (RetryStrategyConfig() when config is None: 3 attempts)."""
    if config is None:
        config = RetryStrategyConfig()
    retryable = _error_filter(config.retryable_errors, config.retryable_error_types)

    def retry_strategy(error: Exception, attempts_made: int) -> RetryDecision:
        if not retryable(error):
            return RetryDecision.no_retry()
        return _decide(
            linear=False,
            max_attempts=config.max_attempts,
            initial=config.initial_delay_seconds,
            max_delay=config.max_delay_seconds,
            rate=config.backoff_rate,
            increment=0,
            jitter=config.jitter_strategy,
            attempts_made=attempts_made,
        )

    return retry_strategy


def create_linear_retry_strategy(
    config: LinearRetryStrategyConfig | None = None,
) -> Callable[[Exception, int], RetryDecision]:
    """A linear-backoff strategy (LinearRetryStrategyConfig() when config is None)."""
    if config is None:
        config = LinearRetryStrategyConfig()
    retryable = _error_filter(config.retryable_errors, config.retryable_error_types)

    def linear_retry_strategy(error: Exception, attempts_made: int) -> RetryDecision:
        if not retryable(error):
            return RetryDecision.no_retry()
        return _decide(
            linear=True,
            max_attempts=config.max_attempts,
            initial=config.initial_delay_seconds,
            max_delay=config.max_delay_seconds,
            rate=1,
            increment=config.increment_seconds,
            jitter=config.jitter_strategy,
            attempts_made=attempts_made,
        )

    return linear_retry_strategy


def _config_from_preset(preset: int, interval: Duration | None = None):
    """RetryStrategyConfig / LinearRetryStrategyConfig holding libperdure's preset numbers."""
    c = _c_preset(preset)
    jitter = _JITTER_PY[c.jitter]
    if c.backoff == lib.PERDURE_BACKOFF_LINEAR:
        return LinearRetryStrategyConfig(
            max_attempts=c.max_attempts,
            initial_delay=Duration.from_seconds(c.initial_delay_seconds),
            increment=Duration.from_seconds(c.increment_seconds),
            max_delay=Duration.from_seconds(c.max_delay_seconds),
            jitter_strategy=jitter,
        )
    rate = c.backoff_rate
    return RetryStrategyConfig(
        max_attempts=c.max_attempts,
        initial_delay=interval if interval is not None else Duration.from_seconds(c.initial_delay_seconds),
        max_delay=interval if interval is not None else Duration.from_seconds(c.max_delay_seconds),
        backoff_rate=int(rate) if rate == int(rate) else rate,
        jitter_strategy=jitter,
    )


class RetryPresets:
    """Ready-made strategies (numbers: protocol.md 7.3, from libperdure's presets)."""

    @classmethod
    def none(cls) -> Callable[[Exception, int], RetryDecision]:
        """A single attempt, no retry."""
        return create_retry_strategy(_config_from_preset(lib.PERDURE_RETRY_NONE))

    @classmethod
    def default(cls) -> Callable[[Exception, int], RetryDecision]:
        """What a step without a strategy uses: 6 attempts, 5 s doubling up to 60 s, full jitter."""
        return create_retry_strategy(_config_from_preset(lib.PERDURE_RETRY_DEFAULT))

    @classmethod
    def transient(cls) -> Callable[[Exception, int], RetryDecision]:
        """3 attempts, 5 s doubling up to 300 s, half jitter."""
        return create_retry_strategy(_config_from_preset(lib.PERDURE_RETRY_TRANSIENT))

    @classmethod
    def resource_availability(cls) -> Callable[[Exception, int], RetryDecision]:
        """5 attempts, 5 s doubling up to 300 s, full jitter."""
        return create_retry_strategy(_config_from_preset(lib.PERDURE_RETRY_RESOURCE_AVAILABILITY))

    @classmethod
    def critical(cls) -> Callable[[Exception, int], RetryDecision]:
        """10 attempts, 1 s growing x1.5 up to 60 s, no jitter."""
        return create_retry_strategy(_config_from_preset(lib.PERDURE_RETRY_CRITICAL))

    @classmethod
    def linear(cls) -> Callable[[Exception, int], RetryDecision]:
        """6 attempts, 1 s, 2 s, 3 s, ... (up to 300 s), no jitter."""
        return create_linear_retry_strategy(_config_from_preset(lib.PERDURE_RETRY_LINEAR))

    @classmethod
    def fixed(cls, interval: Duration | None = None) -> Callable[[Exception, int], RetryDecision]:
        """5 attempts, a constant interval (default 5 s), no jitter."""
        return create_retry_strategy(_config_from_preset(lib.PERDURE_RETRY_FIXED, interval))


@dataclass(frozen=True)
class WithRetryConfig(Generic[T]):
    """Configuration of with_retry.

    retry_strategy: None means create_retry_strategy() (3 attempts).
    wrap_with_run_in_child_context: run the loop in a child context (default);
    the final failure then surfaces as ChildContextError with the original
    error as __cause__. When False, the original error propagates unchanged.
    child_context_config: the ChildConfig of that child context.
    """

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None
    wrap_with_run_in_child_context: bool = True
    child_context_config: ChildConfig[T] | None = None


def with_retry(
    context: DurableContext,
    func: Callable[[DurableContext, int], T],
    config: WithRetryConfig[T],
    name: str | None = None,
) -> T:
    """Runs `func(ctx, attempt)` (attempt counted from 1) and re-runs the whole
    body after a durable backoff wait whenever it raises and the strategy says
    to retry. The waits are named "{name}-backoff-{attempt}" when a name is
    given. Suspension is never intercepted."""
    strategy = config.retry_strategy or create_retry_strategy()

    def attempts(ctx: DurableContext) -> T:
        attempt = 1
        while True:
            try:
                return func(ctx, attempt)
            except SuspendExecution:
                raise
            except Exception as error:
                decision = strategy(error, attempt)
                if not decision.should_retry:
                    raise
                ctx.wait(duration=decision.delay, name=f"{name}-backoff-{attempt}" if name else None)
            attempt += 1

    if not config.wrap_with_run_in_child_context:
        return attempts(context)
    return context.run_in_child_context(attempts, name=name, config=config.child_context_config)
