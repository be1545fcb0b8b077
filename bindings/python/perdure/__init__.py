"""Perdure: durable execution on one C engine, with the API of
`aws_durable_execution_sdk_python` (swap the import prefix for `perdure`).

Beyond the official names: `run` (one execution in a script), `Worker` (serve
functions from a store file) and `Store` (the embedded service).
"""
from perdure.__about__ import __version__
from perdure.concurrency.models import BatchResult
from perdure.config import ParallelBranch
from perdure.context import (
    DurableContext,
    durable_parallel_branch,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
)
from perdure.exceptions import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    DurableExecutionsError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    InvokeError,
    StepError,
    ValidationError,
    WaitForConditionError,
)
from perdure.execution import durable_execution
from perdure.retries import WithRetryConfig, with_retry
from perdure.store import Store
from perdure.types import StepContext
from perdure.worker import ExecutionFailedError, Worker, run

__all__ = [
    "BatchResult",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "ChildContextError",
    "DurableContext",
    "DurableExecutionsError",
    "DurableOperationError",
    "ExecutionError",
    "ExecutionFailedError",
    "InvocationError",
    "InvokeError",
    "ParallelBranch",
    "StepContext",
    "StepError",
    "Store",
    "ValidationError",
    "WaitForConditionError",
    "WithRetryConfig",
    "Worker",
    "__version__",
    "durable_execution",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "run",
    "with_retry",
]
