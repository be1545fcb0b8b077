"""The replay-aware logger of durable contexts (`context.logger`).

Same names and methods as `aws_durable_execution_sdk_python.logger`: `LogInfo`
describes where a record comes from, and `Logger` adds it to every record and
stays silent while its context replays (is_replaying() true), so that a
message is written once per execution and not once per invocation.

By default (no logger given) each record is ONE JSON line written to
sys.stderr and flushed:

    {"timestamp": "2025-01-01T00:00:00.123456Z", "level": "INFO", "message": "...",
     "executionArn": "...", "durableExecutionArn": "...", "parentId": "...",
     "operationName": "...", "attempt": 1, "operationId": "...", <extra>...}

Any LoggerInterface (a stdlib logging.Logger for instance) can be used instead
(Logger.from_log_info(logger, info) or context.set_logger()); it then
receives the same fields as `extra`.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from perdure.types import LoggerInterface

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


def _never_replaying() -> bool:
    return False


def _arn_of(execution: Any) -> str | None:
    """An execution ARN given as a string or as an object holding one
    (`durable_execution_arn`, as the official ExecutionState)."""
    if execution is None or isinstance(execution, str):
        return execution
    return getattr(execution, "durable_execution_arn", None)


@dataclass(frozen=True)
class LogInfo:
    """Where records come from: the execution ARN, the parent context's operation
    id, and the operation's id, name and attempt, when known.

    `execution_arn` may also be given as an object with a `durable_execution_arn`
    attribute (the official SDK passes its ExecutionState here).
    """

    execution_arn: str | None = None
    parent_id: str | None = None
    operation_id: str | None = None
    name: str | None = None
    attempt: int | None = None

    def __post_init__(self) -> None:
        if self.execution_arn is not None and not isinstance(self.execution_arn, str):
            object.__setattr__(self, "execution_arn", _arn_of(self.execution_arn))

    @classmethod
    def from_operation_identifier(cls, execution_state: Any, op_id: Any, attempt: int | None = None) -> LogInfo:
        """From an ARN (or an object holding one) and an operation identifier
        (anything with operation_id, parent_id and name)."""
        return cls(
            execution_arn=_arn_of(execution_state),
            parent_id=getattr(op_id, "parent_id", None),
            operation_id=getattr(op_id, "operation_id", None),
            name=getattr(op_id, "name", None),
            attempt=attempt,
        )

    def with_parent_id(self, parent_id: str) -> LogInfo:
        return LogInfo(self.execution_arn, parent_id, self.operation_id, self.name, self.attempt)


_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_RESERVED = ("timestamp", "level", "message")


class JsonLineLogger:
    """A LoggerInterface writing one JSON object per record to a stream
    (sys.stderr, looked up at each record, by default), flushed at once.

    `exception()` also records the exception being handled as "errorType",
    "errorMessage" and "stackTrace". Values that JSON cannot hold are written
    as str(). `level` drops records below it; it defaults to the
    AWS_LAMBDA_LOG_LEVEL environment variable, else "DEBUG" (everything).
    """

    _lock = threading.Lock()

    def __init__(self, stream=None, level: str | None = None) -> None:
        self._stream = stream
        if level is None:  # Lambda's application log level, when it is set
            level = os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "DEBUG"
        self._threshold = _LEVELS.get(str(level).upper(), 10)

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit("DEBUG", msg, args, extra)

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit("INFO", msg, args, extra)

    def warning(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit("WARNING", msg, args, extra)

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit("ERROR", msg, args, extra)

    def exception(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._emit("ERROR", msg, args, extra, with_exception=True)

    def _emit(
        self, level: str, msg: object, args: tuple, extra: Mapping[str, object] | None, with_exception: bool = False
    ) -> None:
        if _LEVELS[level] < self._threshold:
            return
        message = str(msg)
        if args:  # %-style, like the stdlib
            try:
                message = message % (args[0] if len(args) == 1 and isinstance(args[0], dict) else args)
            except (TypeError, ValueError, KeyError):
                message = " ".join([message, *map(str, args)])
        record: dict[str, Any] = {
            "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": level,
            "message": message,
        }
        for key, value in (extra or {}).items():
            if key not in _RESERVED:
                record[key] = value
        if with_exception:
            exc = sys.exc_info()[1]
            if exc is not None:
                record["errorType"] = type(exc).__name__
                record["errorMessage"] = str(exc)
                record["stackTrace"] = traceback.format_exception(exc)
        line = json.dumps(record, default=str) + "\n"
        stream = self._stream if self._stream is not None else sys.stderr
        with self._lock:
            stream.write(line)
            stream.flush()


class Logger(LoggerInterface):
    """Adds the LogInfo fields to every record and stays silent while
    `is_replaying()` is true (override `_should_log` to change that)."""

    def __init__(
        self,
        logger: LoggerInterface | None = None,
        default_extra: Mapping[str, object] | None = None,
        is_replaying: Callable[[], bool] = _never_replaying,
    ) -> None:
        self._logger: LoggerInterface = logger if logger is not None else JsonLineLogger()
        self._default_extra: Mapping[str, object] = dict(default_extra or {})
        self._is_replaying = is_replaying

    @classmethod
    def from_log_info(
        cls,
        logger: LoggerInterface | None = None,
        info: LogInfo | None = None,
        is_replaying: Callable[[], bool] = _never_replaying,
    ) -> Logger:
        """A logger whose records carry `info`; `logger` None means JSON lines on stderr."""
        if isinstance(logger, LogInfo) and info is None:  # from_log_info(info)
            logger, info = None, logger
        return cls(logger=logger, default_extra=_extra_of(info or LogInfo()), is_replaying=is_replaying)

    def with_log_info(self, info: LogInfo) -> Logger:
        """The same underlying logger and replay source, with other LogInfo."""
        return Logger.from_log_info(logger=self._logger, info=info, is_replaying=self._is_replaying)

    def with_is_replaying(self, is_replaying: Callable[[], bool]) -> Logger:
        """The same logger and fields, silenced by another replay source."""
        return Logger(logger=self._logger, default_extra=self._default_extra, is_replaying=is_replaying)

    def get_logger(self) -> LoggerInterface:
        """The underlying logger."""
        return self._logger

    def debug(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._log(self._logger.debug, msg, *args, extra=extra)

    def info(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._log(self._logger.info, msg, *args, extra=extra)

    def warning(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._log(self._logger.warning, msg, *args, extra=extra)

    def error(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._log(self._logger.error, msg, *args, extra=extra)

    def exception(self, msg: object, *args: object, extra: Mapping[str, object] | None = None) -> None:
        self._log(self._logger.exception, msg, *args, extra=extra)

    def _log(self, log_func: Callable, msg: object, *args: object, extra: Mapping[str, object] | None = None):
        if self._should_log():
            log_func(msg, *args, extra={**self._default_extra, **(extra or {})})

    def _should_log(self) -> bool:
        return not self._is_replaying()


def _extra_of(info: LogInfo) -> dict[str, object]:
    """The record fields of a LogInfo: only those that are known."""
    extra: dict[str, object] = {}
    if info.execution_arn:
        extra["executionArn"] = info.execution_arn
        extra["durableExecutionArn"] = info.execution_arn
    if info.parent_id:
        extra["parentId"] = info.parent_id
    if info.name:  # not "name": the stdlib LogRecord reserves it
        extra["operationName"] = info.name
    if info.attempt is not None:
        extra["attempt"] = info.attempt
    if info.operation_id:
        extra["operationId"] = info.operation_id
    return extra
