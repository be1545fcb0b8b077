"""pytest plugin (entry point pytest11): the `durable_runner` fixture.

Two ways to use it:

    def test_order(durable_runner):
        runner = durable_runner(handler, functions={"target": target})
        result = runner.run(input={"id": 1})

`durable_runner(handler, **options)` makes a DurableFunctionTestRunner
(options as its constructor's), closed when the test ends.

    @pytest.mark.durable_execution(handler=handler, lambda_function_name="order")
    def test_order(durable_runner):
        with durable_runner:
            result = durable_runner.run(input="test", timeout=10)

As the `durable_runner` fixture of the official SDK's examples: a runner for
the marked handler (marker options: handler, skip_time, functions;
lambda_function_name is accepted and ignored: runs are always local), with
run(input, timeout) taking `timeout` as the execution timeout.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

MARKER = "durable_execution"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(handler, lambda_function_name=None, skip_time=True, functions=None): "
        "the durable handler the durable_runner fixture runs")


class DurableRunnerFixture:
    """The `durable_runner` fixture's value: a factory of runners, and the
    runner of the test's durable_execution marker."""

    mode = "local"

    def __init__(self, request: pytest.FixtureRequest | None = None):
        self._request = request
        self._runners: list = []
        self._marked = None

    # -- factory -------------------------------------------------------------------
    def __call__(self, handler: Callable, **options: Any):
        from perdure.testing.runner import DurableFunctionTestRunner

        runner = DurableFunctionTestRunner(handler, **options)
        self._runners.append(runner)
        return runner

    def close(self) -> None:
        while self._runners:
            self._runners.pop().close()
        self._marked = None

    # -- the marked handler's runner ----------------------------------------------------
    @property
    def runner(self):
        """The runner of the test's @pytest.mark.durable_execution(handler=...)."""
        if self._marked is None:
            marker = self._request.node.get_closest_marker(MARKER) if self._request is not None else None
            handler = marker.kwargs.get("handler") if marker is not None else None
            if handler is None:
                raise pytest.UsageError(
                    "durable_runner: call durable_runner(handler, **options), or mark the test with "
                    f"@pytest.mark.{MARKER}(handler=...)")
            self._marked = self(handler, execution_timeout=60, skip_time=marker.kwargs.get("skip_time", True),
                                functions=marker.kwargs.get("functions"))
        return self._marked

    def __enter__(self) -> DurableRunnerFixture:
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        if self._marked is not None:
            self._marked.close()

    def run(self, input: Any = None, timeout: int = 60):  # noqa: A002
        return self.runner.run(input=input, execution_timeout=timeout)

    def run_async(self, input: Any = None, timeout: int = 60) -> str:  # noqa: A002
        return self.runner.run_async(input=input, execution_timeout=timeout)

    def send_callback_success(self, callback_id: str, result: bytes | str | None = None) -> None:
        self.runner.send_callback_success(callback_id=callback_id, result=result)

    def send_callback_failure(self, callback_id: str, error: Any = None) -> None:
        self.runner.send_callback_failure(callback_id=callback_id, error=error)

    def send_callback_heartbeat(self, callback_id: str) -> None:
        self.runner.send_callback_heartbeat(callback_id=callback_id)

    def wait_for_result(self, execution_arn: str, timeout: int = 60):
        return self.runner.wait_for_result(execution_arn=execution_arn, timeout=timeout)

    def wait_for_callback(self, execution_arn: str, name: str | None = None, timeout: int = 60) -> str:
        return self.runner.wait_for_callback(execution_arn=execution_arn, name=name, timeout=timeout)


@pytest.fixture
def durable_runner(request: pytest.FixtureRequest):
    """durable_runner(handler, **options) -> a DurableFunctionTestRunner closed
    at teardown; or, with @pytest.mark.durable_execution(handler=...), the
    marked handler's runner itself (run, run_async, wait_for_callback, ...)."""
    fixture = DurableRunnerFixture(request)
    try:
        yield fixture
    finally:
        fixture.close()
