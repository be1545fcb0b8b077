"""The service's enums as test results carry them.

Same names and values as the official `aws_durable_execution_sdk_python`
(`lambda_service.OperationStatus`, `OperationType`, `OperationSubType` and
`execution.InvocationStatus`), so that assertions written against the official
testing library read the same here.
"""
from __future__ import annotations

from enum import Enum
from typing import TypeAlias

OperationPayload: TypeAlias = str


class InvocationStatus(Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"
    RETRY = "RETRY"


class OperationStatus(Enum):
    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


class OperationType(Enum):
    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class OperationSubType(Enum):
    STEP = "Step"
    WAIT = "Wait"
    CALLBACK = "Callback"
    RUN_IN_CHILD_CONTEXT = "RunInChildContext"
    MAP = "Map"
    MAP_ITERATION = "MapIteration"
    PARALLEL = "Parallel"
    PARALLEL_BRANCH = "ParallelBranch"
    WAIT_FOR_CALLBACK = "WaitForCallback"
    WAIT_FOR_CONDITION = "WaitForCondition"
    CHAINED_INVOKE = "ChainedInvoke"


def enum_or_raw(enum: type[Enum], value: str | None):
    """enum(value), or the raw string when the store says something newer."""
    if value is None:
        return None
    try:
        return enum(value)
    except ValueError:
        return value
