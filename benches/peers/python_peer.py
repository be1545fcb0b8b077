"""One measurement of the official Python SDK with its local test runner, printed as one JSON line.

    python benches/peers/python_peer.py sequential --steps N
    python benches/peers/python_peer.py map --items N --concurrency C

Runs in the throwaway venv benches/run creates (build/bench-peers/python, with
aws-durable-execution-sdk-python and -testing from PyPI). The handlers are
those of benches/sdk/python_bench.py with the official imports; each runs
once under DurableFunctionTestRunner (in-memory store, skip_time), timed from
run() to its result.
"""
import argparse
import json
import time

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import MapConfig
from aws_durable_execution_sdk_python_testing import DurableFunctionTestRunner
from aws_durable_execution_sdk_python.execution import InvocationStatus


def payload(i):
    """The ~100-byte JSON object of benches/sdk/python_bench.py."""
    return {"id": i, "sku": "SKU-%06d" % (i * 7919 % 1000000), "qty": i % 997, "status": "shipped",
            "note": "".join(chr(97 + (i + n) % 26) for n in range(28))}


def timed(handler):
    with DurableFunctionTestRunner(handler=handler) as runner:
        t = time.perf_counter()
        result = runner.run(input=json.dumps({"order": 42}), execution_timeout=3600)
        dt = time.perf_counter() - t
    if result.status is not InvocationStatus.SUCCEEDED:
        raise SystemExit("python_peer: the execution did not succeed: %s %s" % (result.status, result.error))
    return json.loads(result.result), dt


def bench_sequential(o):
    n = o.steps

    @durable_execution
    def handler(event, context: DurableContext):
        for i in range(n):
            context.step(lambda _, i=i: payload(i), name="s")
        return True

    _, dt = timed(handler)
    return {"workload": "sequential", "sdk": "python-official", "steps": n, "seconds": dt, "steps_per_s": n / dt}


def bench_map(o):
    items = list(range(o.items))

    @durable_execution
    def handler(event, context: DurableContext):
        result = context.map(items, lambda ctx, item, _i, _all: ctx.step(lambda _: payload(item), name="s"),
                             name="m", config=MapConfig(max_concurrency=o.concurrency))
        return len(result.get_results())

    done, dt = timed(handler)
    assert done == o.items, done
    return {"workload": "map", "sdk": "python-official", "items": o.items, "max_concurrency": o.concurrency,
            "seconds": dt, "items_per_s": o.items / dt}


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="workload", required=True)
    sub.add_parser("sequential").add_argument("--steps", type=int, default=1000)
    m = sub.add_parser("map")
    m.add_argument("--items", type=int, default=1000)
    m.add_argument("--concurrency", type=int, default=50)
    o = ap.parse_args()
    print(json.dumps({"sequential": bench_sequential, "map": bench_map}[o.workload](o)))


if __name__ == "__main__":
    main()
