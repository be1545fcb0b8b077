"""Types and protocols shared by the SDK modules.

Same public names as `aws_durable_execution_sdk_python.types`. This module
imports only the standard library (config types are referenced for typing
only), so that every other module can import it.
"""
from __future__ import annotations

import re
from abc import abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from perdure.config import (
        CallbackConfig,
        ChildConfig,
        Duration,
        MapConfig,
        ParallelBranch,
        ParallelConfig,
        StepConfig,
    )

T = TypeVar("T")
U = TypeVar("U")
C_co = TypeVar("C_co", covariant=True)
C_contra = TypeVar("C_contra", contravariant=True)


class LoggerInterface(Protocol):
    """What the SDK needs of a logger (a stdlib logging.Logger fits)."""

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None: ...

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None: ...

    def warning(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None: ...

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None: ...

    def exception(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None: ...


@dataclass(frozen=True)
class OperationContext:
    logger: LoggerInterface


@dataclass(frozen=True)
class StepContext(OperationContext):
    """Given to a step function. `attempt` starts at 1."""

    attempt: int


@dataclass(frozen=True)
class WaitForCallbackContext(OperationContext):
    """Given to the submitter of wait_for_callback."""


@dataclass(frozen=True)
class WaitForConditionCheckContext(OperationContext):
    """Given to the check function of wait_for_condition. `attempt` starts at 1."""

    attempt: int


class Callback(Protocol, Generic[C_co]):
    """The handle create_callback returns."""

    callback_id: str

    @abstractmethod
    def result(self) -> C_co | None:
        """The callback's result; suspends the execution until it has one."""
        ...


class BatchResult(Protocol, Generic[T]):
    """What map and parallel return (concurrency.models.BatchResult implements it)."""

    @abstractmethod
    def get_results(self) -> list[T]:
        """The results of the items that succeeded."""
        ...


class DurableContext(Protocol):
    """The operations of a durable context."""

    @abstractmethod
    def step(
        self, func: Callable[[StepContext], T], name: str | None = None, config: StepConfig | None = None
    ) -> T: ...

    @abstractmethod
    def run_in_child_context(
        self, func: Callable[[DurableContext], T], name: str | None = None, config: ChildConfig | None = None
    ) -> T: ...

    @abstractmethod
    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig | None = None,
    ) -> BatchResult[T]: ...

    @abstractmethod
    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> BatchResult[T]: ...

    @abstractmethod
    def wait(self, duration: Duration, name: str | None = None) -> None: ...

    @abstractmethod
    def create_callback(self, name: str | None = None, config: CallbackConfig | None = None) -> Callback: ...


class LambdaContext(Protocol):
    """The Lambda runtime's context object."""

    aws_request_id: str
    log_group_name: str | None = None
    log_stream_name: str | None = None
    function_name: str | None = None
    memory_limit_in_mb: str | None = None
    function_version: str | None = None
    invoked_function_arn: str | None = None
    tenant_id: str | None = None
    client_context: Any | None = None
    identity: Any | None = None

    def get_remaining_time_in_millis(self) -> int: ...

    def log(self, msg) -> None: ...


class SummaryGenerator(Protocol[C_contra]):
    """Builds the compact payload stored instead of a result over 256 KiB."""

    def __call__(self, result: C_contra) -> str: ...


# arn:<partition>:lambda:<region>:<account>:function:<function>:<version>/durable-execution/<execution>/<invocation>
_DURABLE_EXECUTION_ARN = re.compile(
    r"^arn:[^:]*:lambda:[^:]*:[^:]*:function:(?P<function>[^:/]+):[^:/]+"
    r"/durable-execution/(?P<execution>[^/]+)/(?P<invocation>[^/]+)$"
)


@dataclass(frozen=True)
class DurableExecutionArn:
    """The parts of a durable execution ARN."""

    function_name: str
    execution_name: str
    invocation_id: str

    @classmethod
    def from_arn(cls, arn: str) -> DurableExecutionArn | None:
        """Parses an ARN; None when it is not a durable execution ARN."""
        m = _DURABLE_EXECUTION_ARN.match(arn)
        if m is None:
            return None
        return cls(function_name=m["function"], execution_name=m["execution"], invocation_id=m["invocation"])
