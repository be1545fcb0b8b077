"""Result models of map and parallel.

Same names, fields, methods and dict shapes as
`aws_durable_execution_sdk_python.concurrency.models`: `BatchResult.to_dict()`
is what gets checkpointed as a map/parallel result, so both SDKs must read
each other's. Shape:

    {"all": [{"index": 0, "status": "SUCCEEDED", "result": ..., "error": null}, ...],
     "completionReason": "ALL_COMPLETED"}

where "error" is an ErrorObject dict ({"ErrorMessage", "ErrorType", ...}).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Generic, TypeVar

from perdure.exceptions import ChildContextError, ErrorObject, InvalidStateError
from perdure.types import BatchResult as BatchResultProtocol

if TYPE_CHECKING:
    from perdure.config import CompletionConfig
    from perdure.types import SummaryGenerator

logger = logging.getLogger(__name__)

R = TypeVar("R")
CallableType = TypeVar("CallableType")
ResultType = TypeVar("ResultType")


class BatchItemStatus(Enum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STARTED = "STARTED"


class CompletionReason(Enum):
    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"


@dataclass(frozen=True)
class CompletionPolicy:
    """The completion rules of a batch of `total` items (protocol.md 7.2).

    With no criterion set the batch is fail-fast. Tolerance is judged first,
    then "every item done", then min_successful.
    """

    total: int
    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: int | float | None = None

    @classmethod
    def from_config(cls, total: int, config: CompletionConfig | None) -> CompletionPolicy:
        if config is None:
            return cls(total=total)
        return cls(total, config.min_successful, config.tolerated_failure_count, config.tolerated_failure_percentage)

    @property
    def has_criteria(self) -> bool:
        return any(
            v is not None
            for v in (self.min_successful, self.tolerated_failure_count, self.tolerated_failure_percentage)
        )

    def is_tolerance_exceeded(self, failed: int) -> bool:
        if not self.has_criteria:
            return failed > 0
        if self.tolerated_failure_count is not None and failed > self.tolerated_failure_count:
            return True
        pct = self.tolerated_failure_percentage
        return pct is not None and self.total > 0 and (failed / self.total) * 100 > pct

    def should_continue(self, failed: int) -> bool:
        return not self.is_tolerance_exceeded(failed)

    def is_complete(self, succeeded: int, failed: int) -> bool:
        if succeeded + failed >= self.total:
            return True
        return self.min_successful is not None and succeeded >= self.min_successful

    def reason(self, succeeded: int, failed: int) -> CompletionReason:
        if self.is_tolerance_exceeded(failed):
            return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        if succeeded + failed < self.total and self.min_successful is not None and succeeded >= self.min_successful:
            return CompletionReason.MIN_SUCCESSFUL_REACHED
        return CompletionReason.ALL_COMPLETED


def _index_set(raw: list, total: int) -> frozenset[int] | None:
    """The indexes of `raw`, or None unless each is an int (not bool) in [0, total)."""
    if not all(type(i) is int and 0 <= i < total for i in raw):
        return None
    return frozenset(raw)


@dataclass(frozen=True)
class CompletionRecord:
    """The completion decision stored in a large batch result's summary, so that
    replay rebuilds exactly the live result. Items start in index order, so
    the started items are [0, started_total); started_indexes are those still
    STARTED when the batch completed."""

    completion_reason: CompletionReason
    started_total: int
    started_indexes: frozenset[int]

    @classmethod
    def from_summary_payload(cls, payload: str | None) -> CompletionRecord | None:
        """The record in a summary payload, or None when there is none or it is
        malformed. Never raises."""
        if not payload:
            return None
        try:
            data = json.loads(payload)
        except (TypeError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        reason, total = data.get("completionReason"), data.get("totalCount")
        if not isinstance(reason, str) or type(total) is not int or total < 0:
            return None
        try:
            completion_reason = CompletionReason(reason)
        except ValueError:
            return None
        if isinstance(data.get("startedIndexes"), list):
            started = _index_set(data["startedIndexes"], total)
        elif isinstance(data.get("completedIndexes"), list):
            completed = _index_set(data["completedIndexes"], total)
            started = None if completed is None else frozenset(range(total)) - completed
        else:
            return None
        if started is None:
            return None
        return cls(completion_reason=completion_reason, started_total=total, started_indexes=started)

    @staticmethod
    def _validated_indexes(raw: list[object], started_total: int) -> frozenset[int] | None:
        return _index_set(raw, started_total)

    @staticmethod
    def summary_index_fields(items: list[BatchItem]) -> dict[str, list[int]]:
        """{"startedIndexes": [...]} or {"completedIndexes": [...]}, whichever is shorter."""
        started = [it.index for it in items if it.status is BatchItemStatus.STARTED]
        completed = [it.index for it in items if it.status is not BatchItemStatus.STARTED]
        return {"startedIndexes": started} if len(started) <= len(completed) else {"completedIndexes": completed}

    @staticmethod
    def summary_envelope(result: BatchResult, result_type: str, summary: str | None) -> str:
        """The JSON summary payload of a large batch result (plain json.dumps)."""
        envelope: dict[str, object] = {"type": result_type, "totalCount": result.total_count}
        envelope["completionReason"] = result.completion_reason.value
        envelope.update(CompletionRecord.summary_index_fields(result.all))
        envelope["startedCount"] = result.started_count
        envelope["successCount"] = result.success_count
        envelope["failureCount"] = result.failure_count
        envelope["status"] = result.status.value
        if summary is not None:
            envelope["summary"] = summary if isinstance(summary, str) else str(summary)
        return json.dumps(envelope)


def envelope_summary_generator(result_type: str, custom_generator: SummaryGenerator | None) -> SummaryGenerator:
    """The summary generator of a map/parallel: the SDK's envelope, with the
    user's generator (if any) contributing its "summary" field."""

    def generate(result: BatchResult) -> str:
        summary = custom_generator(result) if custom_generator is not None else None
        return CompletionRecord.summary_envelope(result, result_type, summary)

    return generate


@dataclass(frozen=True)
class BatchItem(Generic[R]):
    """One item of a map or one branch of a parallel."""

    index: int
    status: BatchItemStatus
    result: R | None = None
    error: ErrorObject | None = None

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "status": self.status.value,
            "result": self.result,
            "error": None if self.error is None else self.error.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict) -> BatchItem[R]:
        error = data.get("error")
        return cls(
            index=data["index"],
            status=BatchItemStatus(data["status"]),
            result=data.get("result"),
            error=ErrorObject.from_dict(error) if error else None,
        )


@dataclass(frozen=True)
class BatchResult(BatchResultProtocol[R]):
    """What map and parallel return: every item, and why the batch completed."""

    all: list[BatchItem[R]]
    completion_reason: CompletionReason

    @classmethod
    def from_dict(cls, data: dict, completion_config: CompletionConfig | None = None) -> BatchResult[R]:
        items: list[BatchItem[R]] = [BatchItem.from_dict(item) for item in data["all"]]
        reason = data.get("completionReason")
        if reason is not None:
            return cls(items, CompletionReason(reason))
        inferred = cls.from_items(items, completion_config)
        logger.warning(
            "Missing completionReason in BatchResult deserialization, inferred '%s' from batch item statuses. "
            "This may indicate incomplete serialization data.",
            inferred.completion_reason.value,
        )
        return inferred

    @classmethod
    def from_items(cls, items: list[BatchItem[R]], completion_config: CompletionConfig | None = None):
        """A result whose completion reason is inferred from the items' statuses
        (exact only when every item of the batch is present)."""
        succeeded = sum(1 for it in items if it.status is BatchItemStatus.SUCCEEDED)
        failed = sum(1 for it in items if it.status is BatchItemStatus.FAILED)
        policy = CompletionPolicy.from_config(len(items), completion_config)
        return cls(items, policy.reason(succeeded, failed))

    def to_dict(self) -> dict:
        return {"all": [item.to_dict() for item in self.all], "completionReason": self.completion_reason.value}

    def _with(self, status: BatchItemStatus) -> list[BatchItem[R]]:
        return [item for item in self.all if item.status is status]

    def succeeded(self) -> list[BatchItem[R]]:
        """Succeeded items that have a (non-None) result."""
        return [item for item in self._with(BatchItemStatus.SUCCEEDED) if item.result is not None]

    def failed(self) -> list[BatchItem[R]]:
        """Failed items that have an error."""
        return [item for item in self._with(BatchItemStatus.FAILED) if item.error is not None]

    def started(self) -> list[BatchItem[R]]:
        """Items still running when the batch completed."""
        return self._with(BatchItemStatus.STARTED)

    @property
    def status(self) -> BatchItemStatus:
        return BatchItemStatus.FAILED if self.has_failure else BatchItemStatus.SUCCEEDED

    @property
    def has_failure(self) -> bool:
        return any(item.status is BatchItemStatus.FAILED for item in self.all)

    def throw_if_error(self) -> None:
        """Raises ChildContextError for the first failed item (its recorded error
        rebuilt as __cause__); the other errors stay in get_errors(). Nothing is
        raised when the first failed item carries no error."""
        first_failed = next((item for item in self.all if item.status is BatchItemStatus.FAILED), None)
        if first_failed is not None and first_failed.error is not None:
            first_failed.error.raise_as_operation_error(ChildContextError)

    def get_results(self) -> list[R]:
        return [item.result for item in self.succeeded()]

    def get_errors(self) -> list[ErrorObject]:
        return [item.error for item in self.failed()]

    @property
    def success_count(self) -> int:
        return len(self._with(BatchItemStatus.SUCCEEDED))

    @property
    def failure_count(self) -> int:
        return len(self._with(BatchItemStatus.FAILED))

    @property
    def started_count(self) -> int:
        return len(self._with(BatchItemStatus.STARTED))

    @property
    def total_count(self) -> int:
        return len(self.all)


@dataclass(frozen=True)
class Executable(Generic[CallableType]):
    """A unit of work of a batch: its index, function and optional name."""

    index: int
    func: CallableType
    name: str | None = None


# ---------------------------------------------------------------------------
# Branch bookkeeping of a concurrency executor (same names as the official
# models; Perdure's completion decisions themselves come from the engine).
# ---------------------------------------------------------------------------


class BranchStatus(Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    SUSPENDED = "suspended"
    SUSPENDED_WITH_TIMEOUT = "suspended_with_timeout"
    FAILED = "failed"


class Branch(Generic[CallableType, ResultType]):
    """The state of one branch, changed only by the coordinating thread."""

    def __init__(self, executable: Executable[CallableType]) -> None:
        self.executable = executable
        self.status: BranchStatus = BranchStatus.PENDING
        self.result: ResultType | None = None
        self.error: Exception | None = None
        self.resume_at: float | None = None

    @property
    def index(self) -> int:
        return self.executable.index

    def start(self) -> None:
        """PENDING or SUSPENDED_WITH_TIMEOUT -> RUNNING."""
        if self.status not in (BranchStatus.PENDING, BranchStatus.SUSPENDED_WITH_TIMEOUT):
            raise InvalidStateError(f"Cannot start branch {self.index} from {self.status}")
        self.status, self.resume_at = BranchStatus.RUNNING, None

    def complete(self, result: ResultType | None) -> None:
        self.status, self.result = BranchStatus.COMPLETED, result

    def fail(self, error: Exception) -> None:
        self.status, self.error = BranchStatus.FAILED, error

    def suspend(self) -> None:
        """Suspended until something external (a callback) happens."""
        self.status, self.resume_at = BranchStatus.SUSPENDED, None

    def suspend_until(self, resume_at: float) -> None:
        """Suspended until an epoch time; may be resumed in process."""
        self.status, self.resume_at = BranchStatus.SUSPENDED_WITH_TIMEOUT, resume_at


class BranchEventKind(Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    SUSPENDED = "suspended"
    SUSPENDED_UNTIL = "suspended_until"
    ORPHANED = "orphaned"
    FATAL = "fatal"


@dataclass(frozen=True)
class BranchEvent(Generic[ResultType]):
    """What a worker reports to the coordinator about one run of a branch."""

    index: int
    kind: BranchEventKind
    result: ResultType | None = None
    error: Exception | None = None
    resume_at: float | None = None
    fatal_error: BaseException | None = None

    @classmethod
    def completed(cls, index: int, result: ResultType | None) -> BranchEvent[ResultType]:
        return cls(index, BranchEventKind.COMPLETED, result=result)

    @classmethod
    def failed(cls, index: int, error: Exception) -> BranchEvent[ResultType]:
        return cls(index, BranchEventKind.FAILED, error=error)

    @classmethod
    def suspended(cls, index: int) -> BranchEvent[ResultType]:
        return cls(index, BranchEventKind.SUSPENDED)

    @classmethod
    def suspended_until(cls, index: int, resume_at: float) -> BranchEvent[ResultType]:
        return cls(index, BranchEventKind.SUSPENDED_UNTIL, resume_at=resume_at)

    @classmethod
    def orphaned(cls, index: int) -> BranchEvent[ResultType]:
        return cls(index, BranchEventKind.ORPHANED)

    @classmethod
    def fatal(cls, index: int, error: BaseException) -> BranchEvent[ResultType]:
        """A system-level error (a BaseException) to re-raise in the caller."""
        return cls(index, BranchEventKind.FATAL, fatal_error=error)
