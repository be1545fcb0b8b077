"""Tests of the Python SDK's API modules: config, retries, waits, serdes,
exceptions, types, concurrency.models and logger.

Run: cd bindings/python && python3 -m pytest ../../tests/python/test_api_modules.py -q
"""
from __future__ import annotations

import dataclasses
import datetime
import io
import json
import logging
import random
import re
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

_BINDING = Path(__file__).resolve().parents[2] / "bindings" / "python"
if str(_BINDING) not in sys.path:
    sys.path.insert(0, str(_BINDING))

from perdure import config, exceptions, logger as plogger, retries, serdes, types, waits  # noqa: E402
from perdure.concurrency import models  # noqa: E402
from perdure.config import (  # noqa: E402
    CallbackConfig,
    ChildConfig,
    CompletionConfig,
    Duration,
    InvokeConfig,
    JitterStrategy,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from perdure.exceptions import (  # noqa: E402
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    DurableExecutionsError,
    DurableOperationError,
    ErrorObject,
    ExecutionError,
    InvocationError,
    InvokeError,
    SerDesError,
    StepError,
    SuspendExecution,
    TerminationReason,
    ValidationError,
    WaitForConditionError,
    error_object,
)
from perdure.retries import (  # noqa: E402
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    WithRetryConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
    with_retry,
)
from perdure.serdes import EXTENDED_TYPES_SERDES as EXT  # noqa: E402
from perdure.waits import (  # noqa: E402
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

BatchItem, BatchItemStatus, BatchResult, CompletionReason = (
    models.BatchItem,
    models.BatchItemStatus,
    models.BatchResult,
    models.CompletionReason,
)


def names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


@pytest.fixture
def rnd(monkeypatch):
    """Sets the value random.random() returns."""

    def set_value(value: float) -> None:
        monkeypatch.setattr(random, "random", lambda: value)

    return set_value


def delays(strategy, attempts, error=None):
    """The delays (None: no retry) for attempts_made = 1..attempts."""
    error = error or RuntimeError("boom")
    out = []
    for n in range(1, attempts + 1):
        d = strategy(error, n)
        out.append(d.delay_seconds if d.should_retry else None)
    return out


# ===========================================================================
# config
# ===========================================================================


class TestDuration:
    def test_default_and_constructors(self):
        assert Duration().seconds == 0
        assert Duration(7).to_seconds() == 7
        assert Duration.from_seconds(1.9) == Duration(1)
        assert Duration.from_minutes(1.5).seconds == 90
        assert Duration.from_hours(0.5).seconds == 1800
        assert Duration.from_days(1).seconds == 86400
        assert Duration.from_days(0.00001).seconds == 0  # int(): no sub-second precision

    def test_negative_raises(self):
        with pytest.raises(ValidationError, match="Duration seconds must be positive"):
            Duration(-1)
        with pytest.raises(ValidationError):
            Duration.from_minutes(-1)

    def test_frozen_and_hashable(self):
        d = Duration(3)
        with pytest.raises(dataclasses.FrozenInstanceError):
            d.seconds = 4  # type: ignore[misc]
        assert {Duration(3), Duration(3)} == {d}


class TestCompletionConfig:
    def test_defaults_and_fields(self):
        c = CompletionConfig()
        assert names(CompletionConfig) == ["min_successful", "tolerated_failure_count", "tolerated_failure_percentage"]
        assert (c.min_successful, c.tolerated_failure_count, c.tolerated_failure_percentage) == (None, None, None)

    def test_presets(self):
        assert CompletionConfig.first_successful() == CompletionConfig(1, None, None)
        assert CompletionConfig.all_completed() == CompletionConfig(None, None, 100)
        assert CompletionConfig.all_successful() == CompletionConfig(None, 0, 0)

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"min_successful": 0}, "min_successful must be at least 1, got: 0"),
            ({"tolerated_failure_count": -1}, "tolerated_failure_count must be non-negative, got: -1"),
            ({"tolerated_failure_percentage": 101}, "tolerated_failure_percentage must be between 0 and 100, got: 101"),
            ({"tolerated_failure_percentage": -0.5}, "tolerated_failure_percentage must be between 0 and 100, got: -0.5"),
        ],
    )
    def test_validation(self, kwargs, message):
        with pytest.raises(ValidationError, match=re.escape(message)):
            CompletionConfig(**kwargs)

    def test_boundaries_are_valid(self):
        CompletionConfig(min_successful=1, tolerated_failure_count=0, tolerated_failure_percentage=0)
        CompletionConfig(tolerated_failure_percentage=100)
        CompletionConfig(tolerated_failure_percentage=12.5)

    def test_validate_for_total(self):
        CompletionConfig(min_successful=3)._validate_for_total(3)
        CompletionConfig()._validate_for_total(0)
        with pytest.raises(ValidationError, match=re.escape("min_successful cannot be greater than total items: 4 > 3")):
            CompletionConfig(min_successful=4)._validate_for_total(3)


class TestOperationConfigs:
    def test_parallel_config(self):
        assert names(ParallelConfig) == [
            "max_concurrency", "completion_config", "serdes", "item_serdes", "summary_generator", "nesting_type",
        ]
        c = ParallelConfig()
        assert c.max_concurrency is None
        assert c.completion_config == CompletionConfig.all_successful()
        assert (c.serdes, c.item_serdes, c.summary_generator) == (None, None, None)
        assert c.nesting_type is NestingType.NESTED
        ParallelConfig(max_concurrency=1)
        with pytest.raises(ValidationError, match="max_concurrency must be at least 1, got: 0"):
            ParallelConfig(max_concurrency=0)

    def test_map_config(self):
        assert names(MapConfig) == [
            "max_concurrency", "completion_config", "serdes", "item_serdes", "summary_generator", "nesting_type",
            "item_namer",
        ]
        c = MapConfig()
        assert c.completion_config == CompletionConfig()  # fail-fast
        assert c.item_namer is None and c.max_concurrency is None and c.nesting_type is NestingType.NESTED
        with pytest.raises(ValidationError, match="max_concurrency must be at least 1, got: -2"):
            MapConfig(max_concurrency=-2)

    def test_nesting_type(self):
        assert [m.value for m in NestingType] == ["NESTED", "FLAT"]

    def test_parallel_branch(self):
        b = ParallelBranch(lambda ctx, x=1: ("ran", ctx, x), name="b1")
        assert names(ParallelBranch) == ["func", "name"]
        assert b("ctx") == ("ran", "ctx", 1)
        assert ParallelBranch(print).name is None

    def test_step_config(self):
        assert names(StepConfig) == ["retry_strategy", "step_semantics", "serdes"]
        c = StepConfig()
        assert c.retry_strategy is None and c.serdes is None
        assert c.step_semantics is StepSemantics.AT_LEAST_ONCE_PER_RETRY
        assert {m.value for m in StepSemantics} == {"AT_MOST_ONCE_PER_RETRY", "AT_LEAST_ONCE_PER_RETRY"}

    def test_child_and_invoke_config(self):
        assert names(ChildConfig) == ["serdes", "sub_type", "summary_generator", "is_virtual"]
        assert ChildConfig().is_virtual is False and ChildConfig().sub_type is None
        assert names(InvokeConfig) == ["serdes_payload", "serdes_result", "tenant_id"]
        assert InvokeConfig() == InvokeConfig(None, None, None)

    def test_callback_configs(self):
        assert names(CallbackConfig) == ["timeout", "heartbeat_timeout", "serdes"]
        c = CallbackConfig()
        assert c.timeout == Duration(0) and c.heartbeat_timeout == Duration(0) and c.serdes is None
        c = CallbackConfig(timeout=Duration.from_minutes(2), heartbeat_timeout=Duration(30))
        assert (c.timeout_seconds, c.heartbeat_timeout_seconds) == (120, 30)
        assert names(WaitForCallbackConfig) == ["timeout", "heartbeat_timeout", "serdes", "retry_strategy"]
        w = WaitForCallbackConfig(timeout=Duration(5))
        assert isinstance(w, CallbackConfig) and w.retry_strategy is None and w.timeout_seconds == 5

    def test_configs_are_frozen(self):
        for c in (StepConfig(), MapConfig(), ParallelConfig(), ChildConfig(), CallbackConfig(), InvokeConfig()):
            with pytest.raises(dataclasses.FrozenInstanceError):
                c.serdes = None  # type: ignore[misc]

    def test_numeric_and_typevars(self):
        assert config.Numeric == int | float
        assert all(hasattr(config, n) for n in ("P", "R", "T"))


class TestJitter:
    def test_values(self):
        assert [j.value for j in JitterStrategy] == ["NONE", "FULL", "HALF"]
        assert JitterStrategy("HALF") is JitterStrategy.HALF
        assert JitterStrategy.FULL == "FULL"

    def test_apply_and_finalize(self, rnd):
        rnd(0.5)
        assert JitterStrategy.NONE.apply_jitter(10) == 10
        assert JitterStrategy.FULL.apply_jitter(10) == 5
        assert JitterStrategy.HALF.apply_jitter(10) == 7.5
        assert JitterStrategy.HALF.finalize_delay(5) == 4  # 3.75 rounded up
        rnd(0.0)
        assert JitterStrategy.FULL.finalize_delay(100) == 1  # at least one second


# ===========================================================================
# retries
# ===========================================================================


class TestRetryDecision:
    def test_constructors(self):
        r = RetryDecision.retry(Duration(4))
        assert r.should_retry and r.delay_seconds == 4
        n = RetryDecision.no_retry()
        assert not n.should_retry and n.delay == Duration(0) and n.delay_seconds == 0
        assert names(RetryDecision) == ["should_retry", "delay"]


class TestRetryConfigs:
    def test_retry_strategy_config_defaults(self):
        c = RetryStrategyConfig()
        assert names(RetryStrategyConfig) == [
            "max_attempts", "initial_delay", "max_delay", "backoff_rate", "jitter_strategy", "retryable_errors",
            "retryable_error_types",
        ]
        assert (c.max_attempts, c.initial_delay_seconds, c.max_delay_seconds, c.backoff_rate) == (3, 5, 300, 2.0)
        assert c.jitter_strategy is JitterStrategy.FULL
        assert c.retryable_errors is None and c.retryable_error_types is None

    def test_linear_config_defaults(self):
        c = LinearRetryStrategyConfig()
        assert names(LinearRetryStrategyConfig) == [
            "max_attempts", "initial_delay", "increment", "max_delay", "jitter_strategy", "retryable_errors",
            "retryable_error_types",
        ]
        assert (c.max_attempts, c.initial_delay_seconds, c.increment_seconds, c.max_delay_seconds) == (6, 1, 1, 300)
        assert c.jitter_strategy is JitterStrategy.FULL


class TestRetryStrategies:
    def test_no_argument_strategy_is_three_attempts(self, rnd):
        rnd(0.5)
        # FULL jitter: ceil(0.5 * 5) = 3, ceil(0.5 * 10) = 5; the 3rd failure is final
        assert delays(create_retry_strategy(), 4) == [3, 5, None, None]
        assert delays(create_retry_strategy(None), 3) == [3, 5, None]

    def test_random_value_reaches_the_engine(self, rnd):
        strategy = create_retry_strategy(RetryStrategyConfig(max_attempts=10, max_delay=Duration(10_000)))
        for r, want in ((0.0, 1), (0.25, 2), (0.999999, 5)):
            rnd(r)
            assert strategy(ValueError(), 1).delay_seconds == want
        rnd(0.25)
        assert strategy(ValueError(), 4).delay_seconds == 10  # 0.25 * 40

    def test_cap_applies_before_jitter(self, rnd):
        rnd(0.5)
        s = create_retry_strategy(
            RetryStrategyConfig(max_attempts=9, initial_delay=Duration(10), max_delay=Duration(15), backoff_rate=2,
                                jitter_strategy=JitterStrategy.NONE)
        )
        assert delays(s, 4) == [10, 15, 15, 15]
        s = create_retry_strategy(
            RetryStrategyConfig(max_attempts=9, initial_delay=Duration(10), max_delay=Duration(15),
                                jitter_strategy=JitterStrategy.HALF)
        )
        assert delays(s, 3) == [8, 12, 12]  # 7.5 -> 8, 11.25 -> 12

    def test_zero_initial_delay_is_one_second(self, rnd):
        rnd(0.9)
        s = create_retry_strategy(RetryStrategyConfig(initial_delay=Duration(0), jitter_strategy=JitterStrategy.NONE))
        assert delays(s, 3) == [1, 1, None]

    def test_fractional_rate(self, rnd):
        s = create_retry_strategy(
            RetryStrategyConfig(max_attempts=4, initial_delay=Duration(2), backoff_rate=1.5,
                                jitter_strategy=JitterStrategy.NONE)
        )
        assert delays(s, 4) == [2, 3, 5, None]  # 2, 3, 4.5

    def test_linear_strategy(self, rnd):
        rnd(0.5)
        assert delays(create_linear_retry_strategy(), 7) == [1, 1, 2, 2, 3, None, None]  # FULL: 0.5, 1, 1.5, 2, 2.5
        s = create_linear_retry_strategy(
            LinearRetryStrategyConfig(max_attempts=5, initial_delay=Duration(2), increment=Duration(3),
                                      max_delay=Duration(9), jitter_strategy=JitterStrategy.NONE)
        )
        assert delays(s, 5) == [2, 5, 8, 9, None]

    def test_max_attempts_zero_or_one(self):
        assert delays(create_retry_strategy(RetryStrategyConfig(max_attempts=0)), 2) == [None, None]
        assert delays(create_retry_strategy(RetryStrategyConfig(max_attempts=1)), 2) == [None, None]

    def test_invalid_values_raise_validation_error(self):
        with pytest.raises(ValidationError, match="attempts_made"):
            create_retry_strategy()(ValueError(), 0)
        with pytest.raises(ValidationError, match="backoff_rate"):
            create_retry_strategy(RetryStrategyConfig(backoff_rate=0))(ValueError(), 1)

    def test_config_is_read_at_call_time(self, rnd):
        rnd(0.5)
        cfg = RetryStrategyConfig(jitter_strategy=JitterStrategy.NONE)
        s = create_retry_strategy(cfg)
        assert s(ValueError(), 1).delay_seconds == 5
        cfg.initial_delay = Duration(8)
        assert s(ValueError(), 1).delay_seconds == 8


class TestRetryPresets:
    """protocol.md 7.3."""

    def test_default(self, rnd):
        rnd(0.999999)
        assert delays(RetryPresets.default(), 7) == [5, 10, 20, 40, 60, None, None]  # 6 attempts, 5 s x2 up to 60 s
        rnd(0.5)
        assert delays(RetryPresets.default(), 6) == [3, 5, 10, 20, 30, None]  # FULL jitter

    def test_none(self, rnd):
        rnd(0.5)
        assert delays(RetryPresets.none(), 3) == [None, None, None]

    def test_transient(self, rnd):
        rnd(0.0)
        assert delays(RetryPresets.transient(), 3) == [3, 5, None]  # HALF: d/2 + r*d/2 -> 2.5, 5
        rnd(0.999999)
        assert delays(RetryPresets.transient(), 3) == [5, 10, None]

    def test_resource_availability(self, rnd):
        rnd(0.999999)
        assert delays(RetryPresets.resource_availability(), 6) == [5, 10, 20, 40, None, None]
        rnd(0.5)
        assert delays(RetryPresets.resource_availability(), 2) == [3, 5]  # FULL

    def test_critical(self, rnd):
        rnd(0.1)  # NONE jitter: random is ignored
        # 1, 1.5, 2.25, 3.375, 5.06, 7.59, 11.39, 17.09, 25.63 rounded up; 10 attempts
        assert delays(RetryPresets.critical(), 11) == [1, 2, 3, 4, 6, 8, 12, 18, 26, None, None]
        s = create_retry_strategy(
            RetryStrategyConfig(max_attempts=20, initial_delay=Duration(1), max_delay=Duration(60), backoff_rate=1.5,
                                jitter_strategy=JitterStrategy.NONE)
        )
        assert delays(s, 12)[-3:] == [39, 58, 60]  # 38.4, 57.7, then capped at 60 s

    def test_linear(self, rnd):
        rnd(0.1)
        assert delays(RetryPresets.linear(), 7) == [1, 2, 3, 4, 5, None, None]

    def test_fixed(self, rnd):
        rnd(0.1)
        assert delays(RetryPresets.fixed(), 6) == [5, 5, 5, 5, None, None]
        assert delays(RetryPresets.fixed(Duration(7)), 6) == [7, 7, 7, 7, None, None]

    def test_preset_configs_come_from_the_engine(self):
        c = retries._config_from_preset(retries.lib.PERDURE_RETRY_DEFAULT)
        assert (c.max_attempts, c.initial_delay, c.max_delay, c.backoff_rate, c.jitter_strategy) == (
            6, Duration(5), Duration(60), 2, JitterStrategy.FULL)
        c = retries._config_from_preset(retries.lib.PERDURE_RETRY_CRITICAL)
        assert (c.max_attempts, c.initial_delay, c.max_delay, c.backoff_rate, c.jitter_strategy) == (
            10, Duration(1), Duration(60), 1.5, JitterStrategy.NONE)
        c = retries._config_from_preset(retries.lib.PERDURE_RETRY_LINEAR)
        assert isinstance(c, LinearRetryStrategyConfig)
        assert (c.max_attempts, c.initial_delay, c.increment, c.max_delay, c.jitter_strategy) == (
            6, Duration(1), Duration(1), Duration(300), JitterStrategy.NONE)


class TestRetryFilters:
    def test_no_filter_retries_everything(self, rnd):
        rnd(0.5)
        s = create_retry_strategy()
        assert s(KeyError("x"), 1).should_retry and s(Exception(""), 1).should_retry

    def test_substring(self):
        s = create_retry_strategy(RetryStrategyConfig(retryable_errors=["timeout"]))
        assert s(RuntimeError("read timeout here"), 1).should_retry
        assert not s(RuntimeError("Timeout"), 1).should_retry  # case-sensitive
        assert not s(RuntimeError("refused"), 1).should_retry

    def test_regex_is_searched(self):
        s = create_retry_strategy(RetryStrategyConfig(retryable_errors=[re.compile(r"b+c"), re.compile(r"^x\d$")]))
        assert s(RuntimeError("aabbc!"), 1).should_retry  # search, not match
        assert s(RuntimeError("x7"), 1).should_retry
        assert not s(RuntimeError("x77"), 1).should_retry
        # a plain string is never a regex
        s = create_retry_strategy(RetryStrategyConfig(retryable_errors=["a.c"]))
        assert not s(RuntimeError("abc"), 1).should_retry
        assert s(RuntimeError("xa.cx"), 1).should_retry

    def test_types_use_isinstance(self):
        class Flaky(ConnectionError):
            pass

        s = create_retry_strategy(RetryStrategyConfig(retryable_error_types=[ConnectionError]))
        assert s(Flaky("anything"), 1).should_retry
        assert s(ConnectionError(), 1).should_retry
        assert not s(ValueError("timeout"), 1).should_retry  # types alone: the message does not match

    def test_messages_or_types(self):
        s = create_retry_strategy(RetryStrategyConfig(retryable_errors=["retry me"], retryable_error_types=[KeyError]))
        assert s(KeyError("nope"), 1).should_retry
        assert s(ValueError("please retry me"), 1).should_retry
        assert not s(ValueError("nope"), 1).should_retry

    def test_empty_lists_match_nothing(self):
        assert not create_retry_strategy(RetryStrategyConfig(retryable_errors=[]))(ValueError("x"), 1).should_retry
        s = create_retry_strategy(RetryStrategyConfig(retryable_errors=[], retryable_error_types=[]))
        assert not s(ValueError("x"), 1).should_retry

    def test_filtered_error_still_limited_by_attempts(self):
        s = create_retry_strategy(RetryStrategyConfig(max_attempts=2, retryable_errors=["x"]))
        assert delays(s, 3, RuntimeError("x"))[1:] == [None, None]

    def test_linear_filters(self):
        s = create_linear_retry_strategy(LinearRetryStrategyConfig(retryable_error_types=[OSError]))
        assert s(FileNotFoundError(), 1).should_retry
        assert not s(ValueError(), 1).should_retry


class FakeContext:
    """Records what with_retry asks of a DurableContext."""

    def __init__(self):
        self.calls = []

    def run_in_child_context(self, func, name=None, config=None):
        self.calls.append(("child", name, config))
        return func(self)

    def wait(self, duration, name=None):
        self.calls.append(("wait", duration.to_seconds(), name))


class TestWithRetry:
    def test_config_defaults(self):
        assert names(WithRetryConfig) == ["retry_strategy", "wrap_with_run_in_child_context", "child_context_config"]
        c = WithRetryConfig()
        assert c.retry_strategy is None and c.wrap_with_run_in_child_context is True and c.child_context_config is None

    def test_retries_in_a_child_context_with_named_waits(self, rnd):
        rnd(0.5)
        ctx = FakeContext()
        seen = []

        def body(c, attempt):
            seen.append((c, attempt))
            if attempt < 3:
                raise RuntimeError("again")
            return "done"

        child_cfg = ChildConfig()
        out = with_retry(ctx, body, WithRetryConfig(child_context_config=child_cfg), name="op")
        assert out == "done"
        assert seen == [(ctx, 1), (ctx, 2), (ctx, 3)]
        assert ctx.calls == [("child", "op", child_cfg), ("wait", 3, "op-backoff-1"), ("wait", 5, "op-backoff-2")]

    def test_unnamed_waits_and_default_three_attempts(self, rnd):
        rnd(0.5)
        ctx = FakeContext()

        def body(c, attempt):
            raise ValueError(f"fail {attempt}")

        with pytest.raises(ValueError, match="fail 3"):
            with_retry(ctx, body, WithRetryConfig())
        assert ctx.calls == [("child", None, None), ("wait", 3, None), ("wait", 5, None)]

    def test_custom_strategy_and_no_child_context(self):
        ctx = FakeContext()
        got = []

        def strategy(error, attempts_made):
            got.append((str(error), attempts_made))
            return RetryDecision.retry(Duration(9)) if attempts_made < 2 else RetryDecision.no_retry()

        def body(c, attempt):
            raise KeyError(attempt)

        cfg = WithRetryConfig(retry_strategy=strategy, wrap_with_run_in_child_context=False)
        with pytest.raises(KeyError):
            with_retry(ctx, body, cfg, name="x")
        assert got == [("1", 1), ("2", 2)]
        assert ctx.calls == [("wait", 9, "x-backoff-1")]

    def test_suspension_is_not_retried(self):
        ctx = FakeContext()

        def body(c, attempt):
            raise SuspendExecution("pending")

        with pytest.raises(SuspendExecution):
            with_retry(ctx, body, WithRetryConfig(retry_strategy=lambda e, n: pytest.fail("consulted")), name="s")
        assert ctx.calls == [("child", "s", None)]

    def test_first_success_needs_no_wait(self):
        ctx = FakeContext()
        assert with_retry(ctx, lambda c, a: a * 10, WithRetryConfig(), name="n") == 10
        assert ctx.calls == [("child", "n", None)]


# ===========================================================================
# waits
# ===========================================================================


class TestWaits:
    def test_config_defaults(self):
        assert names(WaitStrategyConfig) == [
            "should_continue_polling", "max_attempts", "initial_delay", "max_delay", "backoff_rate", "jitter_strategy",
        ]
        c = WaitStrategyConfig(should_continue_polling=bool)
        assert (c.max_attempts, c.initial_delay_seconds, c.max_delay_seconds, c.backoff_rate) == (60, 5, 300, 1.5)
        assert c.jitter_strategy is JitterStrategy.FULL
        assert names(WaitForConditionConfig) == ["wait_strategy", "initial_state", "serdes"]
        assert WaitForConditionConfig(wait_strategy=print, initial_state=0).serdes is None
        assert waits.Numeric == retries.Numeric == int | float

    def test_decision(self):
        d = WaitForConditionDecision.continue_waiting(Duration(4))
        assert d.should_continue and d.delay_seconds == 4
        s = WaitForConditionDecision.stop_polling()
        assert not s.should_continue and s.delay == Duration(0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.should_continue = True  # type: ignore[misc]

    def test_stop_when_condition_met(self):
        strategy = create_wait_strategy(WaitStrategyConfig(should_continue_polling=lambda s: s < 3))
        d = strategy(3, 1)
        assert not d.should_continue and d.delay_seconds == 0

    def test_delays(self, rnd):
        rnd(0.5)
        strategy = create_wait_strategy(WaitStrategyConfig(should_continue_polling=lambda s: True))
        assert [strategy(None, n).delay_seconds for n in (1, 2, 3)] == [3, 4, 6]  # 2.5, 3.75, 5.625
        strategy = create_wait_strategy(
            WaitStrategyConfig(should_continue_polling=lambda s: True, jitter_strategy=JitterStrategy.NONE)
        )
        assert [strategy(None, n).delay_seconds for n in (1, 2, 3, 4)] == [5, 8, 12, 17]
        assert strategy(None, 30).delay_seconds == 300  # capped
        rnd(0.0)
        full = create_wait_strategy(WaitStrategyConfig(should_continue_polling=lambda s: True))
        assert full(None, 1).delay_seconds == 1  # at least one second

    def test_exhaustion_raises(self):
        strategy = create_wait_strategy(
            WaitStrategyConfig(should_continue_polling=lambda s: s != "done", max_attempts=3)
        )
        assert strategy("x", 2).should_continue
        with pytest.raises(WaitForConditionError, match="wait_for_condition exhausted 3 attempts before the condition was met"):
            strategy("x", 3)
        assert not strategy("done", 3).should_continue  # met on the final attempt: success
        with pytest.raises(WaitForConditionError, match="exhausted 60 attempts"):
            create_wait_strategy(WaitStrategyConfig(should_continue_polling=lambda s: True))(None, 60)

    def test_degenerate_configs(self):
        with pytest.raises(WaitForConditionError):
            create_wait_strategy(WaitStrategyConfig(should_continue_polling=lambda s: True, max_attempts=0))(None, 1)
        with pytest.raises(ValidationError):
            create_wait_strategy(WaitStrategyConfig(should_continue_polling=lambda s: True))(None, 0)

    def test_error_type(self):
        assert issubclass(WaitForConditionError, DurableOperationError)


# ===========================================================================
# serdes
# ===========================================================================


class TestSerDesGolden:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            ("Hello", '"Hello"'),
            (3, "3"),
            (1.5, "1.5"),
            (None, "null"),
            (True, "true"),
            ([1, "a", None, [True, 2.5]], '[1,"a",null,[true,2.5]]'),
            ([], "[]"),
            ("é", '"\\u00e9"'),
            ({"a": 1}, '{"t":"m","v":{"a":{"t":"i","v":1}}}'),
            ({}, '{"t":"m","v":{}}'),
            ((1, "x"), '{"t":"t","v":[{"t":"i","v":1},{"t":"s","v":"x"}]}'),
            ([1, {"b": None}], '{"t":"l","v":[{"t":"i","v":1},{"t":"m","v":{"b":{"t":"n","v":null}}}]}'),
            ({"f": 0.5, "t": True}, '{"t":"m","v":{"f":{"t":"f","v":0.5},"t":{"t":"b","v":true}}}'),
            (b"hi", '{"t":"B","v":"aGk="}'),
            (uuid.UUID(int=1), '{"t":"u","v":"00000000-0000-0000-0000-000000000001"}'),
            (Decimal("1.10"), '{"t":"d","v":"1.10"}'),
            (datetime.datetime(2024, 1, 2, 3, 4, 5, 6), '{"t":"dt","v":"2024-01-02T03:04:05.000006"}'),
            (
                datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
                '{"t":"dt","v":"2024-01-02T03:04:05+00:00"}',
            ),
            (datetime.date(2024, 2, 29), '{"t":"D","v":"2024-02-29"}'),
        ],
    )
    def test_golden(self, value, text):
        assert EXT.serialize(value) == text
        back = EXT.deserialize(text)
        assert back == value and type(back) is type(value)

    def test_round_trips(self):
        value = {
            "when": datetime.datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
            "day": datetime.date(1999, 12, 31),
            "amount": Decimal("-12345.678900"),
            "id": uuid.uuid4(),
            "blob": bytes(range(256)),
            "pair": (1, (2, [3, (4,)])),
            "nested": [{"x": [None, 1.25, "s", b""]}],
            "empty": (),
            "flag": False,
            "big": 2**80,
        }
        back = EXT.deserialize(EXT.serialize(value))
        assert back == value
        assert type(back["pair"][1]) is tuple and type(back["pair"][1][1][1]) is tuple
        assert back["when"].utcoffset() == datetime.timedelta(hours=2)

    def test_bytes_like(self):
        assert EXT.deserialize(EXT.serialize(bytearray(b"ab"))) == b"ab"
        assert EXT.serialize(memoryview(b"ab")) == '{"t":"B","v":"YWI="}'

    def test_z_suffix_is_utc(self):
        back = EXT.deserialize('{"t":"dt","v":"2024-01-02T03:04:05Z"}')
        assert back == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)

    def test_non_string_keys_become_strings(self):
        assert EXT.serialize({1: "a"}) == '{"t":"m","v":{"1":{"t":"s","v":"a"}}}'
        assert EXT.deserialize(EXT.serialize({1: "a"})) == {"1": "a"}

    def test_untagged_elements_inside_containers_are_kept(self):
        assert EXT.deserialize('{"t":"l","v":[1,{"t":"s","v":"x"}]}') == [1, "x"]


class TestSerDesErrors:
    @pytest.mark.parametrize("value", [{1, 2}, frozenset([1]), object(), complex(1, 2)])
    def test_unsupported_types(self, value):
        with pytest.raises(SerDesError, match=re.escape(f"Unsupported type: {type(value)}")):
            EXT.serialize(value)

    def test_set_inside_container(self):
        with pytest.raises(SerDesError, match="Unsupported type: <class 'set'>"):
            EXT.serialize({"s": {1}})

    def test_tuple_keys(self):
        with pytest.raises(SerDesError, match="Tuple keys not supported"):
            EXT.serialize({(1, 2): "x"})

    def test_malformed_envelopes(self):
        with pytest.raises(SerDesError, match=re.escape('Malformed envelope: missing "t" or "v" at root.')):
            EXT.deserialize('{"a": 1}')
        with pytest.raises(SerDesError, match='Malformed envelope'):
            EXT.deserialize('[{"a": 1}]')
        with pytest.raises(SerDesError, match=re.escape('Unknown type tag: "zz"')):
            EXT.deserialize('{"t":"zz","v":1}')
        with pytest.raises(SerDesError, match="Expected list, got <class 'int'>"):
            EXT.deserialize('{"t":"l","v":1}')
        with pytest.raises(SerDesError, match="Expected dict, got <class 'list'>"):
            EXT.deserialize('{"t":"m","v":[]}')
        with pytest.raises(ValueError):
            EXT.deserialize('{"t":"l","v":[{"t":"zz","v":1}]}')

    def test_module_functions_wrap_errors(self, caplog):
        with caplog.at_level(logging.ERROR, logger="perdure.serdes"):
            with pytest.raises(ExecutionError) as e:
                serdes.serialize(None, {1, 2}, "op-1", "arn:x")
        assert str(e.value) == "Serialization failed for id: op-1, error: Unsupported type: <class 'set'>."
        assert isinstance(e.value.__cause__, SerDesError)
        assert e.value.termination_reason is TerminationReason.EXECUTION_ERROR
        assert "Serialization failed for id: op-1" in caplog.text
        with pytest.raises(ExecutionError) as e:
            serdes.deserialize(None, "{not json", "op-2", "arn:x")
        assert str(e.value) == "Deserialization failed for id: op-2"
        assert isinstance(e.value.__cause__, json.JSONDecodeError)

    def test_module_functions_default_and_custom(self):
        assert serdes.serialize(None, {"a": 1}, "o", "a") == '{"t":"m","v":{"a":{"t":"i","v":1}}}'
        assert serdes.deserialize(None, "[1,2]", "o", "a") == [1, 2]
        seen = []

        class Upper(serdes.SerDes):
            def serialize(self, value, serdes_context):
                seen.append(serdes_context)
                return value.upper()

            def deserialize(self, data, serdes_context):
                seen.append(serdes_context)
                return data.lower()

        assert serdes.serialize(Upper(), "ab", "op", "arn") == "AB"
        assert serdes.deserialize(Upper(), "AB", "op", "arn") == "ab"
        assert seen == [serdes.SerDesContext("op", "arn")] * 2


class TestSerDesClasses:
    def test_context(self):
        assert names(serdes.SerDesContext) == ["operation_id", "durable_execution_arn"]
        assert serdes.SerDesContext() == serdes.SerDesContext("", "")

    def test_json_and_passthrough(self):
        ctx = serdes.SerDesContext()
        assert serdes.JsonSerDes().serialize({"a": [1, 2]}, ctx) == '{"a": [1, 2]}'
        assert serdes.JsonSerDes().deserialize('{"a": 1}', ctx) == {"a": 1}
        assert serdes.PassThroughSerDes().serialize("raw", ctx) == "raw"
        assert serdes.PassThroughSerDes().deserialize("raw", ctx) == "raw"
        assert isinstance(serdes.DEFAULT_JSON_SERDES, serdes.JsonSerDes)
        assert isinstance(serdes.EXTENDED_TYPES_SERDES, serdes.ExtendedTypeSerDes)

    def test_abstract(self):
        with pytest.raises(TypeError):
            serdes.SerDes()  # type: ignore[abstract]

    def test_is_primitive(self):
        ip = serdes.SerDes.is_primitive
        assert ip(None) and ip(1) and ip("s") and ip(True) and ip([1, [2, ["x"]]])
        assert not ip((1,)) and not ip({}) and not ip([1, {}]) and not ip(b"x")

    def test_codecs(self):
        assert [t.value for t in serdes.TypeTag] == ["n", "s", "i", "f", "b", "B", "u", "d", "dt", "D", "t", "l", "m", "br"]
        assert (serdes.TYPE_TOKEN, serdes.VALUE_TOKEN) == ("t", "v")
        enc = serdes.TYPE_CODEC.encode((1,))
        assert enc == serdes.EncodedValue(serdes.TypeTag.TUPLE, [serdes.EncodedValue(serdes.TypeTag.INT, 1)])
        assert serdes.TYPE_CODEC.decode(serdes.TypeTag.TUPLE, [{"t": "i", "v": 1}]) == (1,)
        with pytest.raises(SerDesError, match="Unknown type tag: x"):
            serdes.TYPE_CODEC.decode("x", 1)
        with pytest.raises(DurableExecutionsError, match="ContainerCodec not linked"):
            serdes.ContainerCodec().encode([1])
        with pytest.raises(SerDesError, match="Expected UUID tag"):
            serdes.UuidCodec().decode(serdes.TypeTag.STR, "x")
        with pytest.raises(SerDesError, match="Unsupported primitive type"):
            serdes.PrimitiveCodec().encode(b"x")


# ===========================================================================
# concurrency.models (BatchResult)
# ===========================================================================


def sample_batch() -> BatchResult:
    return BatchResult(
        [
            BatchItem(0, BatchItemStatus.SUCCEEDED, result={"a": 1}),
            BatchItem(1, BatchItemStatus.FAILED, error=ErrorObject("bad", "ValueError", None, None)),
            BatchItem(2, BatchItemStatus.SUCCEEDED, result=None),
            BatchItem(3, BatchItemStatus.STARTED),
            BatchItem(4, BatchItemStatus.FAILED, error=ErrorObject("worse", "StepError", "d", ["l1"])),
        ],
        CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
    )


class TestBatchResult:
    def test_enums(self):
        assert [s.value for s in BatchItemStatus] == ["SUCCEEDED", "FAILED", "STARTED"]
        assert [r.value for r in CompletionReason] == ["ALL_COMPLETED", "MIN_SUCCESSFUL_REACHED", "FAILURE_TOLERANCE_EXCEEDED"]

    def test_item(self):
        assert names(BatchItem) == ["index", "status", "result", "error"]
        item = BatchItem(2, BatchItemStatus.FAILED, error=ErrorObject("m", "T", None, None))
        assert item.to_dict() == {"index": 2, "status": "FAILED", "result": None, "error": {"ErrorMessage": "m", "ErrorType": "T"}}
        assert BatchItem.from_dict(item.to_dict()) == item
        assert BatchItem.from_dict({"index": 0, "status": "STARTED"}) == BatchItem(0, BatchItemStatus.STARTED)

    def test_to_dict_shape(self):
        assert sample_batch().to_dict() == {
            "all": [
                {"index": 0, "status": "SUCCEEDED", "result": {"a": 1}, "error": None},
                {"index": 1, "status": "FAILED", "result": None, "error": {"ErrorMessage": "bad", "ErrorType": "ValueError"}},
                {"index": 2, "status": "SUCCEEDED", "result": None, "error": None},
                {"index": 3, "status": "STARTED", "result": None, "error": None},
                {
                    "index": 4, "status": "FAILED", "result": None,
                    "error": {"ErrorMessage": "worse", "ErrorType": "StepError", "ErrorData": "d", "StackTrace": ["l1"]},
                },
            ],
            "completionReason": "FAILURE_TOLERANCE_EXCEEDED",
        }
        assert list(sample_batch().to_dict()) == ["all", "completionReason"]
        assert list(sample_batch().to_dict()["all"][0]) == ["index", "status", "result", "error"]

    def test_selectors_and_counts(self):
        b = sample_batch()
        assert [i.index for i in b.succeeded()] == [0]  # a None result is left out
        assert [i.index for i in b.failed()] == [1, 4]
        assert [i.index for i in b.started()] == [3]
        assert b.get_results() == [{"a": 1}]
        assert [e.message for e in b.get_errors()] == ["bad", "worse"]
        assert (b.success_count, b.failure_count, b.started_count, b.total_count) == (2, 2, 1, 5)
        assert b.has_failure and b.status is BatchItemStatus.FAILED

    def test_all_successful(self):
        b = BatchResult([BatchItem(0, BatchItemStatus.SUCCEEDED, 5)], CompletionReason.ALL_COMPLETED)
        assert not b.has_failure and b.status is BatchItemStatus.SUCCEEDED
        b.throw_if_error()  # nothing raised
        empty = BatchResult([], CompletionReason.ALL_COMPLETED)
        assert empty.total_count == 0 and empty.get_results() == [] and empty.status is BatchItemStatus.SUCCEEDED

    def test_throw_if_error(self):
        with pytest.raises(ChildContextError) as e:
            sample_batch().throw_if_error()
        err = e.value
        assert (err.message, err.error_type, err.data, err.stack_trace) == ("bad", "ValueError", None, None)
        assert type(err.__cause__) is DurableOperationError and err.__cause__.error_type == "ValueError"
        b = BatchResult([BatchItem(0, BatchItemStatus.FAILED, error=ErrorObject("s", "StepError", None, None))],
                        CompletionReason.ALL_COMPLETED)
        with pytest.raises(ChildContextError) as e:
            b.throw_if_error()
        assert type(e.value.__cause__) is StepError

    def test_throw_if_error_first_failure_without_error(self):
        b = BatchResult(
            [BatchItem(0, BatchItemStatus.FAILED), BatchItem(1, BatchItemStatus.FAILED, error=ErrorObject("x", None, None, None))],
            CompletionReason.ALL_COMPLETED,
        )
        b.throw_if_error()  # as the official SDK: only the first failed item is looked at

    def test_from_dict_round_trip(self):
        b = sample_batch()
        assert BatchResult.from_dict(b.to_dict()) == b
        assert BatchResult.from_dict(json.loads(json.dumps(b.to_dict()))) == b

    def test_from_dict_infers_missing_reason(self, caplog):
        items = [{"index": 0, "status": "SUCCEEDED", "result": 1}, {"index": 1, "status": "FAILED", "error": {"ErrorMessage": "x"}}]
        with caplog.at_level(logging.WARNING):
            b = BatchResult.from_dict({"all": items})
        assert b.completion_reason is CompletionReason.FAILURE_TOLERANCE_EXCEEDED  # fail-fast default
        assert "Missing completionReason" in caplog.text
        assert BatchResult.from_dict({"all": items}, CompletionConfig.all_completed()).completion_reason is CompletionReason.ALL_COMPLETED
        started = [{"index": 0, "status": "SUCCEEDED", "result": 1}, {"index": 1, "status": "STARTED"}]
        assert (BatchResult.from_dict({"all": started}, CompletionConfig.first_successful()).completion_reason
                is CompletionReason.MIN_SUCCESSFUL_REACHED)

    def test_extended_serdes_round_trip(self):
        b = BatchResult(
            [
                BatchItem(0, BatchItemStatus.SUCCEEDED, result=datetime.date(2024, 1, 1)),
                BatchItem(1, BatchItemStatus.FAILED, error=ErrorObject("m", "E", None, None)),
            ],
            CompletionReason.ALL_COMPLETED,
        )
        text = EXT.serialize(b)
        assert text == (
            '{"t":"br","v":{"all":{"t":"l","v":['
            '{"t":"m","v":{"index":{"t":"i","v":0},"status":{"t":"s","v":"SUCCEEDED"},'
            '"result":{"t":"D","v":"2024-01-01"},"error":{"t":"n","v":null}}},'
            '{"t":"m","v":{"index":{"t":"i","v":1},"status":{"t":"s","v":"FAILED"},"result":{"t":"n","v":null},'
            '"error":{"t":"m","v":{"ErrorMessage":{"t":"s","v":"m"},"ErrorType":{"t":"s","v":"E"}}}}}]},'
            '"completionReason":{"t":"s","v":"ALL_COMPLETED"}}}'
        )
        assert EXT.deserialize(text) == b

    def test_not_json_dumpable_but_to_dict_is(self):
        with pytest.raises(TypeError):
            json.dumps(sample_batch())
        json.dumps(sample_batch().to_dict())

    def test_package_exports(self):
        import perdure.concurrency as c

        assert c.BatchResult is BatchResult and c.BatchItem is BatchItem
        assert c.BatchItemStatus is BatchItemStatus and c.CompletionReason is CompletionReason
        assert types.BatchResult in BatchResult.__mro__


class TestCompletionPolicy:
    P = models.CompletionPolicy

    def test_fail_fast_without_criteria(self):
        p = self.P.from_config(4, None)
        assert not p.has_criteria and p.is_tolerance_exceeded(1) and not p.should_continue(1)
        assert p.reason(1, 1) is CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        assert p.reason(4, 0) is CompletionReason.ALL_COMPLETED
        assert self.P.from_config(4, CompletionConfig()) == p

    def test_percentage_at_tolerance_continues(self):
        p = self.P.from_config(4, CompletionConfig(tolerated_failure_percentage=25))
        assert not p.is_tolerance_exceeded(1) and p.is_tolerance_exceeded(2)

    def test_count_and_min_successful(self):
        p = self.P.from_config(5, CompletionConfig(min_successful=2, tolerated_failure_count=1))
        assert not p.is_complete(1, 1) and p.is_complete(2, 0) and p.is_complete(3, 2)
        assert p.reason(2, 0) is CompletionReason.MIN_SUCCESSFUL_REACHED
        assert p.reason(4, 1) is CompletionReason.ALL_COMPLETED  # all done wins over min_successful
        assert p.reason(2, 2) is CompletionReason.FAILURE_TOLERANCE_EXCEEDED


class TestCompletionRecord:
    R = models.CompletionRecord

    def test_summary_envelope_and_parse(self):
        b = sample_batch()
        payload = self.R.summary_envelope(b, "MapResult", "custom")
        assert json.loads(payload) == {
            "type": "MapResult", "totalCount": 5, "completionReason": "FAILURE_TOLERANCE_EXCEEDED",
            "startedIndexes": [3], "startedCount": 1, "successCount": 2, "failureCount": 2, "status": "FAILED",
            "summary": "custom",
        }
        assert list(json.loads(payload)) == [
            "type", "totalCount", "completionReason", "startedIndexes", "startedCount", "successCount",
            "failureCount", "status", "summary",
        ]
        rec = self.R.from_summary_payload(payload)
        assert rec == self.R(CompletionReason.FAILURE_TOLERANCE_EXCEEDED, 5, frozenset({3}))

    def test_completed_indexes_form(self):
        items = [BatchItem(i, BatchItemStatus.STARTED) for i in range(3)] + [BatchItem(3, BatchItemStatus.SUCCEEDED, 1)]
        assert self.R.summary_index_fields(items) == {"completedIndexes": [3]}
        rec = self.R.from_summary_payload('{"completionReason": "MIN_SUCCESSFUL_REACHED", "totalCount": 4, "completedIndexes": [3]}')
        assert rec.started_indexes == frozenset({0, 1, 2})

    @pytest.mark.parametrize(
        "payload",
        [None, "", "not json", "[1]", '{"totalCount": 1}', '{"completionReason": "X", "totalCount": 1, "startedIndexes": []}',
         '{"completionReason": "ALL_COMPLETED", "totalCount": true, "startedIndexes": []}',
         '{"completionReason": "ALL_COMPLETED", "totalCount": 2, "startedIndexes": [2]}',
         '{"completionReason": "ALL_COMPLETED", "totalCount": 2, "startedIndexes": [false]}',
         '{"completionReason": "ALL_COMPLETED", "totalCount": 2}'],
    )
    def test_invalid_payloads(self, payload):
        assert self.R.from_summary_payload(payload) is None

    def test_envelope_generator(self):
        gen = models.envelope_summary_generator("ParallelResult", lambda r: f"{r.total_count} items")
        assert json.loads(gen(sample_batch()))["summary"] == "5 items"
        assert "summary" not in json.loads(models.envelope_summary_generator("X", None)(sample_batch()))

    def test_executable(self):
        assert models.Executable(0, print) == models.Executable(0, print, None)


class TestBranchModels:
    def test_branch_transitions(self):
        b = models.Branch(models.Executable(4, print, "n"))
        assert (b.index, b.status, b.result, b.error, b.resume_at) == (4, models.BranchStatus.PENDING, None, None, None)
        b.start()
        assert b.status is models.BranchStatus.RUNNING
        with pytest.raises(exceptions.InvalidStateError, match="Cannot start branch 4"):
            b.start()
        b.suspend_until(12.5)
        assert (b.status, b.resume_at) == (models.BranchStatus.SUSPENDED_WITH_TIMEOUT, 12.5)
        b.start()
        assert b.resume_at is None
        b.suspend()
        assert b.status is models.BranchStatus.SUSPENDED
        with pytest.raises(exceptions.InvalidStateError):
            b.start()
        b.complete("r")
        assert (b.status, b.result) == (models.BranchStatus.COMPLETED, "r")
        err = ValueError()
        b.fail(err)
        assert (b.status, b.error) == (models.BranchStatus.FAILED, err)

    def test_branch_events(self):
        E, K = models.BranchEvent, models.BranchEventKind
        err, fatal = ValueError(), SuspendExecution("x")
        assert E.completed(1, "r") == E(1, K.COMPLETED, result="r")
        assert E.failed(1, err) == E(1, K.FAILED, error=err)
        assert E.suspended(2) == E(2, K.SUSPENDED)
        assert E.suspended_until(2, 3.0) == E(2, K.SUSPENDED_UNTIL, resume_at=3.0)
        assert E.orphaned(5).kind is K.ORPHANED
        assert E.fatal(5, fatal).fatal_error is fatal
        assert [s.value for s in models.BranchStatus] == [
            "pending", "running", "completed", "suspended", "suspended_with_timeout", "failed"]


# ===========================================================================
# exceptions
# ===========================================================================


class TestExceptions:
    def test_hierarchy(self):
        e = exceptions
        pairs = [
            (e.UnrecoverableError, e.DurableExecutionsError),
            (e.ExecutionError, e.UnrecoverableError),
            (e.InvocationError, e.UnrecoverableError),
            (e.NonDeterministicExecutionError, e.ExecutionError),
            (e.BotoClientError, e.InvocationError),
            (e.CheckpointError, e.BotoClientError),
            (e.GetExecutionStateError, e.BotoClientError),
            (e.StepInterruptedError, e.InvocationError),
            (e.ValidationError, e.DurableExecutionsError),
            (e.InvalidStateError, e.DurableExecutionsError),
            (e.SerDesError, e.DurableExecutionsError),
            (e.OrderedLockError, e.DurableExecutionsError),
            (e.DurableOperationError, e.DurableExecutionsError),
            (e.StepError, e.DurableOperationError),
            (e.InvokeError, e.DurableOperationError),
            (e.ChildContextError, e.DurableOperationError),
            (e.WaitForConditionError, e.DurableOperationError),
            (e.CallbackError, e.DurableOperationError),
            (e.CallbackExternalError, e.CallbackError),
            (e.CallbackTimeoutError, e.CallbackError),
            (e.CallbackSubmitterError, e.CallbackError),
            (e.TimedSuspendExecution, e.SuspendExecution),
            (e.DurableExecutionsError, Exception),
        ]
        for sub, base in pairs:
            assert issubclass(sub, base), (sub, base)
        for cls in (e.SuspendExecution, e.OrphanedChildException, e.BackgroundThreadError):
            assert issubclass(cls, BaseException) and not issubclass(cls, Exception)
        assert not issubclass(e.SerDesError, e.ExecutionError)

    def test_termination_reasons(self):
        e = exceptions
        assert [r.value for r in TerminationReason] == [
            "UNHANDLED_ERROR", "INVOCATION_ERROR", "EXECUTION_ERROR", "CHECKPOINT_FAILED",
            "NON_DETERMINISTIC_EXECUTION", "STEP_INTERRUPTED", "SERIALIZATION_ERROR",
        ]
        assert e.ExecutionError("x").termination_reason is TerminationReason.EXECUTION_ERROR
        assert e.InvocationError("x").termination_reason is TerminationReason.INVOCATION_ERROR
        assert InvocationError("x").is_retryable() and isinstance(InvocationError("x"), e.UnrecoverableError)
        nd = e.NonDeterministicExecutionError("changed", step_id="3")
        assert (nd.termination_reason, nd.step_id, str(nd)) == (TerminationReason.NON_DETERMINISTIC_EXECUTION, "3", "changed")
        si = e.StepInterruptedError("interrupted", "7")
        assert (si.termination_reason, si.step_id) == (TerminationReason.STEP_INTERRUPTED, "7")
        assert e.CheckpointError("c").termination_reason is TerminationReason.CHECKPOINT_FAILED
        assert e.GetExecutionStateError("g").termination_reason is TerminationReason.INVOCATION_ERROR
        assert e.UnrecoverableError("u", TerminationReason.UNHANDLED_ERROR).termination_reason is TerminationReason.UNHANDLED_ERROR

    def test_durable_operation_error(self):
        err = StepError("boom", "ValueError", "data", ["a", "b"])
        assert (err.message, err.error_type, err.data, err.stack_trace, str(err)) == ("boom", "ValueError", "data", ["a", "b"], "boom")
        assert StepError("x").error_type == "StepError"
        assert DurableOperationError().message is None and DurableOperationError().error_type == "DurableOperationError"
        assert CallbackTimeoutError(message="t").error_type == "CallbackTimeoutError"

    def test_from_error_fields(self):
        for cls in (StepError, InvokeError, ChildContextError, WaitForConditionError, CallbackError,
                    CallbackExternalError, CallbackTimeoutError, CallbackSubmitterError):
            rebuilt = DurableOperationError.from_error_fields(cls.__name__, "m", "d", ["s"])
            assert type(rebuilt) is cls and (rebuilt.message, rebuilt.data, rebuilt.stack_trace) == ("m", "d", ["s"])
        other = DurableOperationError.from_error_fields("ValueError", "m", None, None)
        assert type(other) is DurableOperationError and other.error_type == "ValueError"
        assert type(DurableOperationError.from_error_fields(None, None, None, None)) is DurableOperationError

    def test_boto_client_error_classification(self):
        B, Cat = exceptions.BotoClientError, exceptions.DurableApiErrorCategory
        assert exceptions.CheckpointErrorCategory is Cat

        class ClientError(Exception):
            def __init__(self, code, status, message=""):
                super().__init__(f"{code}: {message}")
                self.response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}

        cases = [
            (ClientError("KMSDisabledException", 502), Cat.EXECUTION),
            (ClientError("ValidationException", 400), Cat.EXECUTION),
            (ClientError("ResourceNotFoundException", 404), Cat.EXECUTION),
            (ClientError("TooManyRequestsException", 429), Cat.INVOCATION),
            (ClientError("InvalidParameterValueException", 400, "Invalid Checkpoint Token: stale"), Cat.INVOCATION),
            (ClientError("InvalidParameterValueException", 400, "other"), Cat.EXECUTION),
            (ClientError("ServiceException", 500), Cat.INVOCATION),
            (RuntimeError("network down"), Cat.INVOCATION),
        ]
        for exc, want in cases:
            err = B.from_exception(exc)
            assert err.error_category is want, exc
            assert err.is_retryable() is (want is Cat.INVOCATION) and err.is_retriable() is err.is_retryable()
            assert str(err) == str(exc)
        err = exceptions.CheckpointError.from_exception(ClientError("ValidationException", 400, "bad"))
        assert isinstance(err, exceptions.CheckpointError) and not err.is_retryable()
        assert err.build_logger_extras() == {
            "Error": {"Code": "ValidationException", "Message": "bad"}, "ResponseMetadata": {"HTTPStatusCode": 400},
        }
        assert B("plain").build_logger_extras() == {}

    def test_suspensions(self):
        before = time.time()
        s = exceptions.TimedSuspendExecution.from_delay("wait", 30)
        assert before + 30 <= s.scheduled_timestamp <= time.time() + 30 and str(s) == "wait"
        when = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
        assert exceptions.TimedSuspendExecution.from_datetime("w", when).scheduled_timestamp == when.timestamp()
        assert str(SuspendExecution("p")) == "p"

    def test_misc_errors(self):
        src = ValueError("inner")
        assert str(exceptions.OrderedLockError("lock broke", src)) == "lock broke ValueError: inner"
        assert exceptions.OrderedLockError("lock broke", src).source_exception is src
        assert str(exceptions.OrderedLockError("only")) == "only"
        o = exceptions.OrphanedChildException("orphan", operation_id="abc")
        assert o.operation_id == "abc" and str(o) == "orphan"
        b = exceptions.BackgroundThreadError("bg", src)
        assert b.source_exception is src

    def test_error_object_function(self):
        assert error_object(ValueError("boom")) == {"ErrorMessage": "boom", "ErrorType": "ValueError"}
        assert error_object(KeyError("k")) == {"ErrorMessage": "'k'", "ErrorType": "KeyError"}

        class MyError(Exception):
            pass

        assert error_object(MyError()) == {"ErrorMessage": "", "ErrorType": "MyError"}
        # a typed wrapper records its own class as the discriminant, with its data and trace
        assert error_object(StepError("m", "ValueError", "payload", ["t1"])) == {
            "ErrorMessage": "m", "ErrorType": "StepError", "ErrorData": "payload", "StackTrace": ["t1"],
        }
        assert error_object(CallbackError()) == {"ErrorType": "CallbackError"}

    def test_error_object_class(self):
        d = {"ErrorType": "T", "ErrorMessage": "m", "ErrorData": "x", "StackTrace": ["a"]}
        obj = ErrorObject.from_dict(d)
        assert (obj.type, obj.message, obj.data, obj.stack_trace) == ("T", "m", "x", ["a"])
        assert obj.to_dict() == d and list(obj.to_dict()) == ["ErrorMessage", "ErrorType", "ErrorData", "StackTrace"]
        assert ErrorObject.from_dict({}).to_dict() == {}
        assert ErrorObject.from_message("hi").to_dict() == {"ErrorMessage": "hi"}
        assert ErrorObject.from_exception(ValueError("v")) == ErrorObject("v", "ValueError", None, None)
        assert type(ErrorObject("m", "InvokeError", None, None).to_durable_operation_error()) is InvokeError
        with pytest.raises(StepError) as e:
            ErrorObject("m", "ValueError", "d", None).raise_as_operation_error(StepError)
        assert (e.value.error_type, e.value.data) == ("ValueError", "d")
        assert type(e.value.__cause__) is DurableOperationError


# ===========================================================================
# types
# ===========================================================================


class TestTypes:
    def test_operation_contexts(self):
        lg = logging.getLogger("t")
        s = types.StepContext(lg, 2)
        assert names(types.StepContext) == ["logger", "attempt"] and (s.logger, s.attempt) == (lg, 2)
        assert names(types.WaitForCallbackContext) == ["logger"]
        assert names(types.WaitForConditionCheckContext) == ["logger", "attempt"]
        assert isinstance(s, types.OperationContext)
        assert types.StepContext(logger=lg, attempt=1) == types.StepContext(lg, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.attempt = 3  # type: ignore[misc]

    def test_protocols_exist(self):
        for n in ("LoggerInterface", "Callback", "BatchResult", "DurableContext", "LambdaContext", "SummaryGenerator"):
            assert hasattr(types, n)
        assert {"step", "run_in_child_context", "map", "parallel", "wait", "create_callback"} <= set(dir(types.DurableContext))

    def test_durable_execution_arn(self):
        arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn:$LATEST/durable-execution/exec-1/inv-9"
        parsed = types.DurableExecutionArn.from_arn(arn)
        assert parsed == types.DurableExecutionArn("my-fn", "exec-1", "inv-9")
        assert types.DurableExecutionArn.from_arn("arn:aws:lambda:us-east-1:1:function:f") is None


# ===========================================================================
# logger
# ===========================================================================

ARN = "arn:aws:lambda:us-east-1:1:function:f:1/durable-execution/e/i"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def lines(capsys) -> list[dict]:
    err = capsys.readouterr().err
    assert err == "" or err.endswith("\n")
    return [json.loads(line) for line in err.splitlines()]


class Recorder:
    def __init__(self):
        self.records = []

    def __getattr__(self, level):
        return lambda msg, *args, extra=None: self.records.append((level, msg, args, extra))


class TestLogger:
    def test_json_line(self, capsys):
        info = plogger.LogInfo(execution_arn=ARN, parent_id="p1", operation_id="op1", name="charge", attempt=2)
        log = plogger.Logger.from_log_info(info=info)
        log.info("charged %s for %d", "card", 5, extra={"orderId": "o-1"})
        (rec,) = lines(capsys)
        assert TS.match(rec.pop("timestamp"))
        assert rec == {
            "level": "INFO", "message": "charged card for 5", "executionArn": ARN, "durableExecutionArn": ARN,
            "parentId": "p1", "operationName": "charge", "attempt": 2, "operationId": "op1", "orderId": "o-1",
        }

    def test_levels_and_unknown_fields(self, capsys):
        log = plogger.Logger.from_log_info(None, plogger.LogInfo(execution_arn=ARN))
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.error("e")
        recs = lines(capsys)
        assert [r["level"] for r in recs] == ["DEBUG", "INFO", "WARNING", "ERROR"]
        assert all(set(r) == {"timestamp", "level", "message", "executionArn", "durableExecutionArn"} for r in recs)

    def test_attempt_zero_and_no_arn(self, capsys):
        plogger.Logger.from_log_info(info=plogger.LogInfo(attempt=0)).info("x")
        (rec,) = lines(capsys)
        assert rec["attempt"] == 0 and "executionArn" not in rec

    def test_exception_record(self, capsys):
        log = plogger.Logger.from_log_info(info=plogger.LogInfo(execution_arn=ARN))
        try:
            raise ValueError("bad input")
        except ValueError:
            log.exception("failed")
        (rec,) = lines(capsys)
        assert rec["level"] == "ERROR" and rec["errorType"] == "ValueError" and rec["errorMessage"] == "bad input"
        assert any("ValueError: bad input" in s for s in rec["stackTrace"])

    def test_one_line_per_record_and_odd_values(self, capsys):
        log = plogger.Logger.from_log_info(info=plogger.LogInfo(execution_arn=ARN))
        log.info("multi\nline", extra={"obj": object(), "message": "ignored", "when": datetime.date(2024, 1, 1)})
        log.info("100%", extra=None)
        recs = lines(capsys)
        assert len(recs) == 2
        assert recs[0]["message"] == "multi\nline" and recs[0]["when"] == "2024-01-01" and "object" in recs[0]["obj"]
        assert recs[1]["message"] == "100%"

    def test_silent_while_replaying(self, capsys):
        replaying = [True]
        log = plogger.Logger.from_log_info(info=plogger.LogInfo(execution_arn=ARN), is_replaying=lambda: replaying[0])
        log.info("during replay")
        log.error("also during replay")
        assert lines(capsys) == []
        replaying[0] = False
        log.info("live")
        assert [r["message"] for r in lines(capsys)] == ["live"]

    def test_with_log_info_and_with_is_replaying(self, capsys):
        rec = Recorder()
        log = plogger.Logger.from_log_info(rec, plogger.LogInfo(ARN, "p"), is_replaying=lambda: True)
        child = log.with_log_info(plogger.LogInfo(ARN, parent_id="c", operation_id="o"))
        child.info("hidden")  # keeps the replay source
        assert rec.records == []
        live = child.with_is_replaying(lambda: False)
        live.info("shown %s", 1, extra={"k": "v"})
        assert rec.records == [("info", "shown %s", (1,), {
            "executionArn": ARN, "durableExecutionArn": ARN, "parentId": "c", "operationId": "o", "k": "v"})]
        assert live.get_logger() is rec
        assert capsys.readouterr().err == ""

    def test_extra_overrides_defaults(self):
        rec = Recorder()
        plogger.Logger.from_log_info(rec, plogger.LogInfo(ARN, attempt=1)).warning("m", extra={"attempt": 9})
        assert rec.records[0][3]["attempt"] == 9

    def test_stdlib_logger(self, caplog):
        std = logging.getLogger("perdure-test-std")
        log = plogger.Logger.from_log_info(std, plogger.LogInfo(ARN, name="step-a"))
        with caplog.at_level(logging.INFO, logger="perdure-test-std"):
            log.info("hello %s", "there")
        (r,) = caplog.records
        assert r.getMessage() == "hello there" and r.operationName == "step-a" and r.executionArn == ARN

    def test_default_constructor_and_positional_info(self, capsys):
        plogger.Logger().info("bare")
        plogger.Logger.from_log_info(plogger.LogInfo(ARN)).info("positional")
        recs = lines(capsys)
        assert [r["message"] for r in recs] == ["bare", "positional"]
        assert recs[1]["executionArn"] == ARN

    def test_log_info(self):
        class State:
            durable_execution_arn = ARN

        class OpId:
            operation_id, parent_id, name = "o", "p", "n"

        assert plogger.LogInfo(State()).execution_arn == ARN
        info = plogger.LogInfo.from_operation_identifier(State(), OpId(), attempt=3)
        assert info == plogger.LogInfo(ARN, "p", "o", "n", 3)
        assert plogger.LogInfo.from_operation_identifier(ARN, OpId()).attempt is None
        assert info.with_parent_id("q") == plogger.LogInfo(ARN, "q", "o", "n", 3)
        assert names(plogger.LogInfo) == ["execution_arn", "parent_id", "operation_id", "name", "attempt"]

    def test_level_threshold(self, monkeypatch):
        out = io.StringIO()
        monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "WARN")  # unknown name: everything
        plogger.JsonLineLogger(out).debug("d")
        monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "WARNING")
        j = plogger.JsonLineLogger(out)
        j.info("dropped")
        j.warning("kept")
        plogger.JsonLineLogger(out, level="ERROR").warning("dropped too")
        assert [json.loads(x)["message"] for x in out.getvalue().splitlines()] == ["d", "kept"]
