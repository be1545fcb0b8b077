"""The README's testing example, on examples/python/order_processing.py: keeps both true."""
import importlib.util
from pathlib import Path

from perdure.testing import DurableFunctionTestRunner, InvocationStatus

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "order_processing.py"


def load_example():
    spec = importlib.util.spec_from_file_location("order_processing", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_order_is_approved_then_charged_on_the_third_attempt():
    handler = load_example().handler
    with DurableFunctionTestRunner(handler=handler) as runner:
        arn = runner.run_async(input={"order_id": "o-1", "amount": 42})
        callback_id = runner.wait_for_callback(arn, name="approval")
        runner.send_callback_success(callback_id, b"approved")
        result = runner.wait_for_result(arn)
        assert result.status is InvocationStatus.SUCCEEDED
        assert result.get_step("charge_card").attempt == 3


def test_a_rejected_order_is_not_charged():
    handler = load_example().handler
    with DurableFunctionTestRunner(handler=handler) as runner:
        arn = runner.run_async(input={"order_id": "o-2", "amount": 5})
        runner.send_callback_success(runner.wait_for_callback(arn, name="approval"), b"no")
        result = runner.wait_for_result(arn)
        assert result.status is InvocationStatus.SUCCEEDED
        assert '"rejected"' in result.result
        assert "charge_card" not in [op.name for op in result.operations]


def test_an_unanswered_approval_times_out_when_run_skips_time():
    handler = load_example().handler
    with DurableFunctionTestRunner(handler=handler) as runner:
        result = runner.run(input={"order_id": "o-3", "amount": 1})
        assert result.status is InvocationStatus.FAILED
        assert result.error.type == "CallbackTimeoutError"
