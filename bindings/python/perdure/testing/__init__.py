"""perdure.testing: the official testing library's DurableFunctionTestRunner,
in-process on a Perdure store whose clock the runner skips forward.

    from perdure.testing import DurableFunctionTestRunner

    with DurableFunctionTestRunner(handler) as runner:
        result = runner.run(input={"order": 1})
    assert result.status is InvocationStatus.SUCCEEDED
    assert result.get_step("charge").result == '"ok"'

See perdure.testing.runner for time skipping and callbacks, and
perdure.testing.pytest_plugin for the `durable_runner` fixture.
"""
from perdure.testing.clock import VirtualClock
from perdure.testing.exceptions import (
    DurableFunctionsLocalRunnerError,
    DurableFunctionsTestError,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from perdure.testing.model import InvocationStatus, OperationStatus, OperationSubType, OperationType
from perdure.testing.runner import (
    CallbackOperation,
    ContextOperation,
    DurableChildContextTestRunner,
    DurableFunctionTestResult,
    DurableFunctionTestRunner,
    ExecutionOperation,
    InvokeOperation,
    Operation,
    StepOperation,
    WaitOperation,
    create_operation,
)

__all__ = [
    "CallbackOperation",
    "ContextOperation",
    "DurableChildContextTestRunner",
    "DurableFunctionTestResult",
    "DurableFunctionTestRunner",
    "DurableFunctionsLocalRunnerError",
    "DurableFunctionsTestError",
    "ExecutionOperation",
    "InvalidParameterValueException",
    "InvocationStatus",
    "InvokeOperation",
    "Operation",
    "OperationStatus",
    "OperationSubType",
    "OperationType",
    "ResourceNotFoundException",
    "StepOperation",
    "VirtualClock",
    "WaitOperation",
    "create_operation",
]
