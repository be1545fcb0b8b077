"""The exception hierarchy of the durable execution SDK.

Names, constructor signatures, attributes and messages follow
`aws_durable_execution_sdk_python.exceptions` so that handler code catching
these errors works unchanged. Two Perdure additions live here because this
module sits at the bottom of the import graph: `ErrorObject` (the protocol's
error record, protocol.md 3.5; the official SDK keeps it in lambda_service)
and `error_object(exc)`, its dict form, used by the engine.

This module imports only the standard library.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict

if TYPE_CHECKING:
    import datetime
    from collections.abc import Mapping

BAD_REQUEST_ERROR: int = 400
TOO_MANY_REQUESTS_ERROR: int = 429
SERVICE_ERROR: int = 500
INVALID_PARAMETER_VALUE_EXCEPTION: str = "InvalidParameterValueException"
INVALID_CHECKPOINT_TOKEN_PREFIX: str = "Invalid Checkpoint Token"

# Error codes that Lambda reports with a 5xx status but that no retry can fix
# (the customer's KMS key is unusable): they fail the execution.
_NON_RETRYABLE_CUSTOMER_ERROR_CODES: frozenset[str] = frozenset(
    ("KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException", "KMSNotFoundException")
)


class AwsErrorObj(TypedDict):
    Code: str | None
    Message: str | None


class AwsErrorMetadata(TypedDict):
    RequestId: str | None
    HostId: str | None
    HTTPStatusCode: int | None
    HTTPHeaders: str | None
    RetryAttempts: str | None


class TerminationReason(Enum):
    """Why a durable execution terminated."""

    UNHANDLED_ERROR = "UNHANDLED_ERROR"
    INVOCATION_ERROR = "INVOCATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CHECKPOINT_FAILED = "CHECKPOINT_FAILED"
    NON_DETERMINISTIC_EXECUTION = "NON_DETERMINISTIC_EXECUTION"
    STEP_INTERRUPTED = "STEP_INTERRUPTED"
    SERIALIZATION_ERROR = "SERIALIZATION_ERROR"


class DurableExecutionsError(Exception):
    """Root of every SDK error that is an ordinary Exception."""


class UnrecoverableError(DurableExecutionsError):
    """An error that ends the invocation; `termination_reason` says how."""

    def __init__(self, message: str, termination_reason: TerminationReason):
        super().__init__(message)
        self.termination_reason = termination_reason


class ExecutionError(UnrecoverableError):
    """Ends the execution FAILED, without a Lambda retry."""

    def __init__(self, message: str, termination_reason: TerminationReason = TerminationReason.EXECUTION_ERROR):
        super().__init__(message, termination_reason)


class InvocationError(UnrecoverableError):
    """Re-raised from the handler so that Lambda retries the invocation."""

    def __init__(self, message: str, termination_reason: TerminationReason = TerminationReason.INVOCATION_ERROR):
        super().__init__(message, termination_reason)

    def is_retryable(self) -> bool:
        """True: an invocation error is retried unless a subclass says otherwise."""
        return True


class DurableApiErrorCategory(Enum):
    INVOCATION = "INVOCATION"
    EXECUTION = "EXECUTION"


CheckpointErrorCategory = DurableApiErrorCategory
"""Older name of DurableApiErrorCategory."""


class BotoClientError(InvocationError):
    """A failed durable-execution API call (checkpoint, get state).

    Retried by default (an InvocationError); `error_category` EXECUTION marks
    the failures that a retry cannot fix, which end the execution FAILED.
    """

    def __init__(
        self,
        message: str,
        error_category: DurableApiErrorCategory = DurableApiErrorCategory.INVOCATION,
        error: AwsErrorObj | None = None,
        response_metadata: AwsErrorMetadata | None = None,
        termination_reason=TerminationReason.INVOCATION_ERROR,
    ):
        super().__init__(message=message, termination_reason=termination_reason)
        self.error: AwsErrorObj | None = error
        self.response_metadata: AwsErrorMetadata | None = response_metadata
        self.error_category: DurableApiErrorCategory = error_category

    @classmethod
    def from_exception(cls, exception: Exception):
        """Builds the error from a botocore ClientError (or anything with `.response`)."""
        response = getattr(exception, "response", None) or {}
        error = response.get("Error")
        metadata = response.get("ResponseMetadata")
        return cls(
            message=str(exception),
            error_category=cls._classify_error_category(error, metadata),
            error=error,
            response_metadata=metadata,
        )

    @staticmethod
    def _classify_error_category(
        error: AwsErrorObj | None, response_metadata: AwsErrorMetadata | None
    ) -> DurableApiErrorCategory:
        """EXECUTION (not retryable) for KMS misconfiguration and for 4xx other
        than 429 and a stale checkpoint token; INVOCATION for the rest."""
        code = (error.get("Code") if error else None) or ""
        if code in _NON_RETRYABLE_CUSTOMER_ERROR_CODES:
            return DurableApiErrorCategory.EXECUTION
        status = (response_metadata.get("HTTPStatusCode") if response_metadata else None) or 0
        if not error or not (BAD_REQUEST_ERROR <= status < SERVICE_ERROR) or status == TOO_MANY_REQUESTS_ERROR:
            return DurableApiErrorCategory.INVOCATION
        message = error.get("Message") or ""
        stale_token = code == INVALID_PARAMETER_VALUE_EXCEPTION and message.startswith(INVALID_CHECKPOINT_TOKEN_PREFIX)
        return DurableApiErrorCategory.INVOCATION if stale_token else DurableApiErrorCategory.EXECUTION

    def is_retryable(self) -> bool:
        return self.error_category is DurableApiErrorCategory.INVOCATION

    def is_retriable(self) -> bool:
        """Older spelling of is_retryable."""
        return self.is_retryable()

    def build_logger_extras(self) -> dict:
        """The AWS error and response metadata as logging extras (PascalCase keys)."""
        extras: dict = {}
        if self.error:
            extras["Error"] = self.error
        if self.response_metadata:
            extras["ResponseMetadata"] = self.response_metadata
        return extras


class NonDeterministicExecutionError(ExecutionError):
    """The code replayed differently from what was recorded."""

    def __init__(self, message: str, step_id: str | None = None):
        super().__init__(message, TerminationReason.NON_DETERMINISTIC_EXECUTION)
        self.step_id = step_id


class CheckpointError(BotoClientError):
    """A checkpoint could not be written; the invocation ends."""

    def __init__(
        self,
        message: str,
        error_category: DurableApiErrorCategory = DurableApiErrorCategory.INVOCATION,
        error: AwsErrorObj | None = None,
        response_metadata: AwsErrorMetadata | None = None,
    ):
        super().__init__(
            message, error_category, error, response_metadata, termination_reason=TerminationReason.CHECKPOINT_FAILED
        )


class ValidationError(DurableExecutionsError):
    """Incorrect arguments to a durable operation."""


class GetExecutionStateError(BotoClientError):
    """The execution state could not be read."""

    def __init__(
        self,
        message: str,
        error_category: DurableApiErrorCategory = DurableApiErrorCategory.INVOCATION,
        error: AwsErrorObj | None = None,
        response_metadata: AwsErrorMetadata | None = None,
    ):
        super().__init__(
            message, error_category, error, response_metadata, termination_reason=TerminationReason.INVOCATION_ERROR
        )


class InvalidStateError(DurableExecutionsError):
    """An operation was attempted on an object in the wrong state."""


class DurableOperationError(DurableExecutionsError):
    """A durable operation (step, invoke, child context, ...) ended in error.

    `error_type` is the type name of the error that escaped the operation (for
    example "ValueError"); it defaults to this class's name. `data` and
    `stack_trace` are carried through checkpoints unchanged.
    """

    def __init__(
        self,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message: str | None = message
        self.error_type: str = error_type or type(self).__name__
        self.data: str | None = data
        self.stack_trace: list[str] | None = stack_trace

    @classmethod
    def from_error_fields(
        cls,
        error_type: str | None,
        message: str | None,
        data: str | None,
        stack_trace: list[str] | None,
    ) -> DurableOperationError:
        """Rebuilds a recorded error: the SDK's own operation error class named
        by `error_type`, else a plain DurableOperationError."""
        target = _OPERATION_ERROR_CLASSES.get(error_type or "", DurableOperationError)
        return target(message=message, error_type=error_type, data=data, stack_trace=stack_trace)


class StepError(DurableOperationError):
    """A step failed (after its retries)."""


class InvokeError(DurableOperationError):
    """A chained invoke failed."""


class ChildContextError(DurableOperationError):
    """A child context (run_in_child_context, a map item, a parallel branch) failed."""


class WaitForConditionError(DurableOperationError):
    """A wait_for_condition failed."""


class CallbackError(DurableOperationError):
    """Any callback failure; the subclasses tell the causes apart."""


class CallbackExternalError(CallbackError):
    """The external system reported failure (SendDurableExecutionCallbackFailure)."""


class CallbackTimeoutError(CallbackError):
    """The callback timed out, or its heartbeat did."""


class CallbackSubmitterError(CallbackError):
    """The submitter step of a wait_for_callback failed."""


# The classes from_error_fields may rebuild; any other recorded type name
# comes back as a plain DurableOperationError.
_OPERATION_ERROR_CLASSES: dict[str, type[DurableOperationError]] = {
    c.__name__: c
    for c in (
        StepError,
        InvokeError,
        ChildContextError,
        WaitForConditionError,
        CallbackError,
        CallbackExternalError,
        CallbackTimeoutError,
        CallbackSubmitterError,
    )
}


class StepInterruptedError(InvocationError):
    """An at-most-once step started in an earlier invocation that never recorded its end."""

    def __init__(self, message: str, step_id: str | None = None):
        super().__init__(message, TerminationReason.STEP_INTERRUPTED)
        self.step_id = step_id


class BackgroundThreadError(BaseException):
    """A fatal error of the background checkpointing thread.

    A BaseException, so that `except Exception` in user code does not swallow it.
    """

    def __init__(self, message: str, source_exception: Exception):
        super().__init__(message)
        self.source_exception = source_exception


class SuspendExecution(BaseException):
    """Unwinds the handler so that the invocation returns PENDING.

    A BaseException, like SystemExit, so that `except Exception` does not catch it.
    """

    def __init__(self, message: str):
        super().__init__(message)


class TimedSuspendExecution(SuspendExecution):
    """Suspends until `scheduled_timestamp` (epoch seconds)."""

    def __init__(self, message: str, scheduled_timestamp: float):
        super().__init__(message)
        self.scheduled_timestamp = scheduled_timestamp

    @classmethod
    def from_delay(cls, message: str, delay_seconds: int) -> TimedSuspendExecution:
        """Resumes `delay_seconds` from now."""
        return cls(message, scheduled_timestamp=time.time() + delay_seconds)

    @classmethod
    def from_datetime(cls, message: str, datetime_timestamp: datetime.datetime) -> TimedSuspendExecution:
        """Resumes at the given datetime."""
        return cls(message, scheduled_timestamp=datetime_timestamp.timestamp())


class OrderedLockError(DurableExecutionsError):
    """A lock of an ordered chain could not be taken because an earlier one failed."""

    def __init__(self, message: str, source_exception: Exception | None = None) -> None:
        if source_exception:
            message = f"{message} {type(source_exception).__name__}: {source_exception}"
        super().__init__(message)
        self.source_exception: Exception | None = source_exception


class SerDesError(DurableExecutionsError):
    """A value could not be serialized or deserialized."""


class OrphanedChildException(BaseException):
    """A map item or parallel branch tried to checkpoint after its batch had completed.

    A BaseException so that user code's `except Exception` lets it through and
    the orphaned branch stops at its next operation.
    """

    def __init__(self, message: str, operation_id: str):
        super().__init__(message)
        self.operation_id = operation_id


# ---------------------------------------------------------------------------
# The protocol's ErrorObject (protocol.md 3.5)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorObject:
    """A recorded error: {"ErrorMessage", "ErrorType", "ErrorData", "StackTrace"}, all optional.

    Same fields and methods as the official `lambda_service.ErrorObject`.
    """

    message: str | None
    type: str | None
    data: str | None
    stack_trace: list[str] | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorObject:
        return cls(
            message=data.get("ErrorMessage"),
            type=data.get("ErrorType"),
            data=data.get("ErrorData"),
            stack_trace=data.get("StackTrace"),
        )

    @classmethod
    def from_exception(cls, exception: BaseException) -> ErrorObject:
        """ErrorType is always the exception's class name. A DurableOperationError
        keeps its message, data and stack trace; any other error records str(e)."""
        if isinstance(exception, DurableOperationError):
            return cls(exception.message, type(exception).__name__, exception.data, exception.stack_trace)
        return cls(str(exception), type(exception).__name__, None, None)

    @classmethod
    def from_message(cls, message: str) -> ErrorObject:
        return cls(message=message, type=None, data=None, stack_trace=None)

    def to_dict(self) -> dict[str, Any]:
        """The wire form; absent fields are left out."""
        pairs = (
            ("ErrorMessage", self.message),
            ("ErrorType", self.type),
            ("ErrorData", self.data),
            ("StackTrace", self.stack_trace),
        )
        return {key: value for key, value in pairs if value is not None}

    def to_durable_operation_error(self) -> DurableOperationError:
        return DurableOperationError.from_error_fields(
            error_type=self.type, message=self.message, data=self.data, stack_trace=self.stack_trace
        )

    def raise_as_operation_error(self, operation_error_cls: type[DurableOperationError]) -> NoReturn:
        """Raises `operation_error_cls` carrying this record, with the recorded
        error rebuilt (from_error_fields) as its __cause__. First run and
        replay go through here, so both raise the same error."""
        cause = self.to_durable_operation_error()
        raise operation_error_cls(
            message=self.message, error_type=self.type, data=self.data, stack_trace=self.stack_trace
        ) from cause


def error_object(exc: BaseException) -> dict[str, Any]:
    """The ErrorObject dict recorded for `exc`, exactly as the official SDK's
    `ErrorObject.from_exception(exc).to_dict()`: ErrorMessage, ErrorType and,
    for a DurableOperationError that has them, ErrorData and StackTrace."""
    return ErrorObject.from_exception(exc).to_dict()
