"""Configuration of durable operations.

Same classes, field names, field order and defaults as
`aws_durable_execution_sdk_python.config` (protocol.md 7.2). Every duration is
a whole number of seconds.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

from perdure.exceptions import ValidationError

P = TypeVar("P")  # payload
R = TypeVar("R")  # result
T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Callable

    from perdure.retries import RetryDecision
    from perdure.serdes import SerDes
    from perdure.types import SummaryGenerator

    OperationSubType = Enum  # the wire SubType enum (defined with the engine)

Numeric = int | float

@dataclass(frozen=True)
class Duration:
    """A length of time, kept as whole seconds by the from_* constructors."""

    seconds: int = 0

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValidationError("Duration seconds must be positive")

    def to_seconds(self) -> int:
        return self.seconds

    @classmethod
    def from_seconds(cls, value: float) -> Duration:
        return cls(seconds=int(value))

    @classmethod
    def from_minutes(cls, value: float) -> Duration:
        return cls(seconds=int(value * 60))

    @classmethod
    def from_hours(cls, value: float) -> Duration:
        return cls(seconds=int(value * 3600))

    @classmethod
    def from_days(cls, value: float) -> Duration:
        return cls(seconds=int(value * 86400))


class NestingType(Enum):
    """How map iterations and parallel branches are wrapped.

    NESTED: each runs in its own checkpointed CONTEXT operation.
    FLAT: each runs in a virtual context that checkpoints nothing of its own;
    its operations report to the map/parallel operation directly.
    """

    NESTED = "NESTED"
    FLAT = "FLAT"


@dataclass(frozen=True)
class CompletionConfig:
    """When a map or parallel completes.

    min_successful: stop once this many items succeeded.
    tolerated_failure_count: stop when more items than this failed.
    tolerated_failure_percentage: stop when more than this share of all items failed.
    With every field None the batch is fail-fast: the first failure stops it.
    """

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: int | float | None = None

    def __post_init__(self) -> None:
        if self.min_successful is not None and self.min_successful < 1:
            raise ValidationError(f"min_successful must be at least 1, got: {self.min_successful}")
        if self.tolerated_failure_count is not None and self.tolerated_failure_count < 0:
            raise ValidationError(f"tolerated_failure_count must be non-negative, got: {self.tolerated_failure_count}")
        pct = self.tolerated_failure_percentage
        if pct is not None and not 0 <= pct <= 100:
            raise ValidationError(f"tolerated_failure_percentage must be between 0 and 100, got: {pct}")

    def _validate_for_total(self, total: int) -> None:
        """Checks the config against the number of items it governs (called by
        map and parallel before anything is checkpointed)."""
        if self.min_successful is not None and self.min_successful > total:
            raise ValidationError(
                f"min_successful cannot be greater than total items: {self.min_successful} > {total}"
            )

    @staticmethod
    def first_successful():
        """Complete as soon as one item succeeds."""
        return CompletionConfig(min_successful=1)

    @staticmethod
    def all_completed():
        """Run every item whatever fails (100 % tolerated failures)."""
        return CompletionConfig(tolerated_failure_percentage=100)

    @staticmethod
    def all_successful():
        """Every item must succeed: no failure is tolerated."""
        return CompletionConfig(tolerated_failure_count=0, tolerated_failure_percentage=0)


def _check_max_concurrency(value: int | None) -> None:
    if value is not None and value < 1:
        raise ValidationError(f"max_concurrency must be at least 1, got: {value}")


@dataclass(frozen=True)
class ParallelConfig:
    """Configuration of parallel().

    max_concurrency: branches running at once (None: all).
    completion_config: default all_successful().
    serdes: for the BatchResult (and for each branch when item_serdes is None).
    item_serdes: for each branch's result.
    summary_generator: the summary stored for results over 256 KiB.
    nesting_type: NESTED or FLAT.
    """

    max_concurrency: int | None = None
    completion_config: CompletionConfig = field(default_factory=CompletionConfig.all_successful)
    serdes: SerDes | None = None
    item_serdes: SerDes | None = None
    summary_generator: SummaryGenerator | None = None
    nesting_type: NestingType = NestingType.NESTED

    def __post_init__(self) -> None:
        _check_max_concurrency(self.max_concurrency)


@dataclass(frozen=True)
class ParallelBranch(Generic[T]):
    """A parallel branch with its own name (default name: "parallel-branch-{index}")."""

    func: Callable
    name: str | None = None

    def __call__(self, *args, **kwargs):
        return self.func(*args, **kwargs)


class StepSemantics(Enum):
    AT_MOST_ONCE_PER_RETRY = "AT_MOST_ONCE_PER_RETRY"
    AT_LEAST_ONCE_PER_RETRY = "AT_LEAST_ONCE_PER_RETRY"


@dataclass(frozen=True)
class StepConfig:
    """Configuration of step(). retry_strategy None means RetryPresets.default()."""

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None
    step_semantics: StepSemantics = StepSemantics.AT_LEAST_ONCE_PER_RETRY
    serdes: SerDes | None = None


@dataclass(frozen=True)
class ChildConfig(Generic[T]):
    """Configuration of run_in_child_context().

    sub_type: the operation's SubType; summary_generator: the payload stored
    for results over 256 KiB; is_virtual: checkpoint nothing for the child
    itself (FLAT branches).
    """

    serdes: SerDes | None = None
    sub_type: OperationSubType | None = None
    summary_generator: SummaryGenerator | None = None
    is_virtual: bool = False


@dataclass(frozen=True)
class MapConfig(Generic[T]):
    """Configuration of map().

    completion_config defaults to CompletionConfig(), which is fail-fast.
    item_namer(item, index) names each iteration (default "map-item-{index}").
    """

    max_concurrency: int | None = None
    completion_config: CompletionConfig = field(default_factory=CompletionConfig)
    serdes: SerDes | None = None
    item_serdes: SerDes | None = None
    summary_generator: SummaryGenerator | None = None
    nesting_type: NestingType = NestingType.NESTED
    item_namer: Callable[[T, int], str] | None = None

    def __post_init__(self) -> None:
        _check_max_concurrency(self.max_concurrency)


@dataclass(frozen=True)
class InvokeConfig(Generic[P, R]):
    """Configuration of invoke(): serdes of the payload and of the result
    (both default to plain JSON), and an optional tenant id."""

    serdes_payload: SerDes[P] | None = None
    serdes_result: SerDes[R] | None = None
    tenant_id: str | None = None


@dataclass(frozen=True)
class CallbackConfig:
    """Configuration of create_callback(). A zero duration means no timeout."""

    timeout: Duration = field(default_factory=Duration)
    heartbeat_timeout: Duration = field(default_factory=Duration)
    serdes: SerDes | None = None

    @property
    def timeout_seconds(self) -> int:
        return self.timeout.to_seconds()

    @property
    def heartbeat_timeout_seconds(self) -> int:
        return self.heartbeat_timeout.to_seconds()


@dataclass(frozen=True)
class WaitForCallbackConfig(CallbackConfig):
    """CallbackConfig plus the retry strategy of the submitter step."""

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None


class JitterStrategy(StrEnum):
    """Randomisation of retry and polling delays.

    NONE: the delay itself. FULL: random in [0, delay). HALF: delay/2 plus
    random in [0, delay/2).
    """

    NONE = "NONE"
    FULL = "FULL"
    HALF = "HALF"

    def apply_jitter(self, delay: float) -> float:
        if self is JitterStrategy.NONE:
            return delay
        r = random.random()  # noqa: S311
        if self is JitterStrategy.HALF:
            return delay / 2 + r * (delay / 2)
        return r * delay

    def finalize_delay(self, base_delay: float) -> int:
        """Jitter, round up, and at least one second."""
        return max(1, math.ceil(self.apply_jitter(base_delay)))
