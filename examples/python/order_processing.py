"""An order workflow, durable with Perdure.

validate the order -> create an approval callback (24 h timeout) -> send it
for approval -> suspend until someone approves -> charge the card (a flaky
payment gateway, retried with a custom strategy) -> done.

Serve it with a worker and drive it with the CLI (README.md walks through it):

    perdure worker --store orders.db order_processing=examples/python/order_processing.py:handler
    perdure --store orders.db start order_processing --name order-1 --input '{"order_id": "o-1", "amount": 42}'

or run `python examples/python/order_processing.py`, which does the whole
walk-through by itself in one store file.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from perdure import DurableContext, durable_execution, durable_step
from perdure.config import CallbackConfig, Duration, StepConfig
from perdure.retries import RetryStrategyConfig, create_retry_strategy
from perdure.types import StepContext


class PaymentGatewayTimeout(Exception):
    """The payment gateway did not answer in time: worth retrying."""


@durable_step
def validate_order(step: StepContext, order: dict) -> dict:
    if not order.get("order_id") or order.get("amount", 0) <= 0:
        raise ValueError(f"invalid order: {order}")
    step.logger.info(f"order {order['order_id']} is valid")
    return {"order_id": order["order_id"], "amount": order["amount"]}


@durable_step
def send_for_approval(step: StepContext, order: dict, callback_id: str) -> None:
    # A real system would e-mail a link carrying the callback id.
    step.logger.info(f"approval requested for {order['order_id']}: callback id {callback_id}")


@durable_step
def charge_card(step: StepContext, order: dict) -> dict:
    # The gateway times out on the first two attempts, then succeeds.
    if step.attempt < 3:
        step.logger.warning(f"charging {order['order_id']}: attempt {step.attempt} timed out")
        raise PaymentGatewayTimeout(f"gateway timeout on attempt {step.attempt}")
    step.logger.info(f"charged {order['amount']} for {order['order_id']} on attempt {step.attempt}")
    return {"charged": order["amount"], "attempts": step.attempt}


payment_retries = create_retry_strategy(RetryStrategyConfig(
    max_attempts=5,
    initial_delay=Duration.from_seconds(1),
    backoff_rate=2,
    retryable_error_types=[PaymentGatewayTimeout],
))


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    order = context.step(validate_order(event))
    approval = context.create_callback(name="approval", config=CallbackConfig(timeout=Duration.from_hours(24)))
    context.step(send_for_approval(order, approval.callback_id))
    decision = approval.result()  # suspends here until the callback is answered
    if decision != "approved":
        return {"order_id": order["order_id"], "status": "rejected", "decision": decision}
    receipt = context.step(charge_card(order), config=StepConfig(retry_strategy=payment_retries))
    return {"order_id": order["order_id"], "status": "charged", **receipt}


# ---- the self-running walk-through -------------------------------------------

def _cli(store: str, *args: str) -> None:
    command = ["perdure", "--store", store, *args]
    print(f"\n$ {' '.join(command)}", flush=True)
    subprocess.run([sys.executable, "-m", "perdure", "--store", store, *args], check=False)


def _wait_for(predicate, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def walk_through(store_path: str) -> int:
    from perdure import Store, Worker

    worker = Worker({"order_processing": handler}, store_path)
    serving = threading.Thread(target=worker.serve_forever, kwargs={"poll_ms": 200}, daemon=True)
    serving.start()
    with Store(store_path) as store:
        name = f"order-{int(time.time())}"
        arn = store.start("order_processing", {"order_id": "o-1", "amount": 42}, name=name)
        print(f"started {name}")

        def open_callback():
            for op in store.operations(arn):
                if op.get("Type") == "CALLBACK" and op.get("Status") == "STARTED":
                    return op["CallbackDetails"]["CallbackId"]
            return None

        callback_id = _wait_for(open_callback, "the approval callback")
        _wait_for(lambda: store.describe(arn)["Status"] == "RUNNING" and len(store.history(arn)) >= 6,
                  "the invocation to suspend")
        _cli(store_path, "list")
        _cli(store_path, "show", name)
        print("\nThe execution is suspended on its approval callback; no process holds it. Approving it:")
        _cli(store_path, "callback", "succeed", callback_id, "approved")
        _wait_for(lambda: store.describe(arn)["Status"] in ("SUCCEEDED", "FAILED"), "the order to finish")
        _cli(store_path, "history", name)
        _cli(store_path, "show", name)
        status = store.describe(arn)["Status"]
    worker.stop()
    serving.join(timeout=5)
    worker.close()
    return 0 if status == "SUCCEEDED" else 1


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the order workflow walk-through in one store file.")
    parser.add_argument("--store", help="store file (default: a new temporary one)")
    args = parser.parse_args()
    if args.store:
        return walk_through(args.store)
    with tempfile.TemporaryDirectory() as tmp:
        return walk_through(str(Path(tmp) / "orders.db"))


if __name__ == "__main__":
    sys.exit(main())
