"""`durable_execution`: turns `handler(event, context)` into a durable function.

The decorated function is what a worker serves. One invocation = one
`run_invocation` call: the C VM is loaded with the invocation input, the
handler runs against a DurableContext, and the invocation output (SUCCEEDED,
FAILED or PENDING) comes back as bytes in the VM's wire format.
"""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from perdure._engine import WIRE_JSON, WIRE_MSGPACK, Engine
from perdure._native import lib
from perdure.context import DurableContext
from perdure.exceptions import (
    ExecutionError,
    InvalidStateError,
    InvocationError,
    NonDeterministicExecutionError,
    SuspendExecution,
    ValidationError,
    error_object,
)

__all__ = ["LAMBDA_RESPONSE_SIZE_LIMIT", "durable_execution", "run_invocation", "WIRE_JSON", "WIRE_MSGPACK"]

LAMBDA_RESPONSE_SIZE_LIMIT = 6 * 1024 * 1024 - 50

logger = logging.getLogger(__name__)


def durable_execution(func: Callable[[Any, DurableContext], Any] | None = None, *, boto3_client: Any = None,
                      plugins: list | None = None):
    """Decorator making `func(event, context: DurableContext)` durable.

    Use it bare (`@durable_execution`) or with arguments, like the official
    one. `boto3_client` and `plugins` are accepted for source compatibility;
    plugins are not supported yet and are refused.
    """
    if func is None:
        return functools.partial(durable_execution, boto3_client=boto3_client, plugins=plugins)
    if plugins:
        raise NotImplementedError("perdure: durable_execution(plugins=...) is not supported yet")

    @functools.wraps(func)
    def wrapper(event: Any, lambda_context: Any = None):
        raise ExecutionError(
            "perdure: this durable function runs under a Perdure worker (`python -m perdure worker`, "
            "perdure.Worker, perdure.run or perdure.testing); the AWS Lambda backend is not built yet")

    wrapper.__perdure_handler__ = func
    return wrapper


def _is_durable(func: Callable) -> bool:
    return hasattr(func, "__perdure_handler__")


def _decode_event(engine: Engine) -> Any:
    raw = engine.input()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ExecutionError(f"the execution input is not valid JSON: {e}") from e


def _serialize_result(result: Any) -> bytes:
    try:
        return json.dumps(result).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise ExecutionError(f"the handler's result is not JSON serializable: {e} (return plain data, "
                             "e.g. BatchResult.to_dict())") from e


def run_invocation(func: Callable, payload: bytes, wire: int, transport: Callable[[bytes], bytes],
                   clock: Callable[[], int], lambda_context: Any = None) -> bytes:
    """Runs one invocation of `func` (a @durable_execution function, or a plain
    `func(event, lambda_context)` served as a non-durable function).

    `clock()` is the service's time in epoch ms. Returns the invocation
    output. Raises InvocationError (e.g. a failing checkpoint) when the
    invocation must be retried from its last checkpoint.
    """
    engine = Engine(wire, transport)
    try:
        engine.start(payload, clock())
        engine.start_ticker(clock)
        outcome, result, error = lib.PERDURE_OUTCOME_SUCCEEDED, None, None
        try:
            event = _decode_event(engine)
            if _is_durable(func):
                context = DurableContext(engine, lambda_context=lambda_context)
                value = func.__perdure_handler__(event, context)
            else:
                value = func(event, lambda_context)
            result = _serialize_result(value)
        except SuspendExecution:
            outcome = lib.PERDURE_OUTCOME_PENDING
        except InvocationError:
            raise
        except NonDeterministicExecutionError as e:
            # The VM is poisoned: the failure is written without it.
            logger.error("perdure: %s", e)
            return engine.failed_output(error_object(e))
        except Exception as e:  # noqa: BLE001  (the handler failed: so does the execution)
            outcome, error = lib.PERDURE_OUTCOME_FAILED, error_object(e)
        try:
            return engine.finish(outcome, result, error)
        except (ExecutionError, ValidationError, InvalidStateError) as e:
            return engine.failed_output(error_object(e))
    finally:
        engine.close()
