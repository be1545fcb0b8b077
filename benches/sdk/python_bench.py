"""One measurement of one workload of the Perdure Python SDK, printed as one JSON line.

    python benches/sdk/python_bench.py sequential --store memory|durable --steps N
    python benches/sdk/python_bench.py map --store memory|durable --items N --concurrency C
    python benches/sdk/python_bench.py replay --ops N [--input FILE]
    python benches/sdk/python_bench.py replay-input --ops N --out FILE

benches/run calls it (a fresh process each time) at least five times per
workload and takes medians. Handlers use the public API a user would:
@durable_execution, context.step, context.map with MapConfig, perdure.run on
":memory:" or on a store file. Durable stores are created in $PERDURE_BENCH_DIR
(default: the current directory) and removed afterwards.

replay hands the SDK's invocation entry point (perdure.execution.run_invocation,
the one Worker uses) an invocation input holding N SUCCEEDED steps, built here
as the store would send it (msgpack, schema/records.md 1.6), with a transport
answering every checkpoint as the store does for a plain step. This is the
same measurement as the C row (perdure_bench replay), so the two compare.
Building 100,000 operations takes longer than replaying them, so benches/run
writes the input once with replay-input and passes it to each run.
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

from perdure import DurableContext, durable_execution, run
from perdure.config import MapConfig
from perdure.execution import WIRE_MSGPACK, run_invocation
from perdure.serdes import serialize

EPOCH_MS = 1767225600000
ARN = "arn:aws:lambda:us-east-1:000000000000:function:bench:$LATEST/durable-execution/b/1"


def payload(i):
    """A JSON object of ~100 bytes once serialized, different for each i (as in bench.c)."""
    return {"id": i, "sku": "SKU-%06d" % (i * 7919 % 1000000), "qty": i % 997, "status": "shipped",
            "note": "".join(chr(97 + (i + n) % 26) for n in range(28))}


def store_path(kind):
    if kind == "memory":
        return None, None
    d = tempfile.mkdtemp(prefix="pysdk.", dir=os.environ.get("PERDURE_BENCH_DIR") or ".")
    return d, os.path.join(d, "bench.db")


def cleanup(d):
    if d:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)


def timed_run(handler, store):
    """Runs one execution to its end on a fresh store; (result, seconds)."""
    d, path = store_path(store)
    try:
        t = time.perf_counter()
        result = run(handler, {"order": 42}, store=path)
        return result, time.perf_counter() - t
    finally:
        cleanup(d)


def bench_sequential(o):
    n = o.steps

    @durable_execution
    def handler(event, context: DurableContext):
        for i in range(n):
            context.step(lambda _, i=i: payload(i), name="s")
        return True

    ok, dt = timed_run(handler, o.store)
    assert ok is True
    return {"workload": "sequential", "sdk": "python", "store": o.store, "steps": n, "seconds": dt,
            "steps_per_s": n / dt}


def bench_map(o):
    items = list(range(o.items))

    @durable_execution
    def handler(event, context: DurableContext):
        result = context.map(items, lambda ctx, item, _i, _all: ctx.step(lambda _: payload(item), name="s"),
                             name="m", config=MapConfig(max_concurrency=o.concurrency))
        return len(result.get_results())

    done, dt = timed_run(handler, o.store)
    assert done == o.items, done
    return {"workload": "map", "sdk": "python", "store": o.store, "items": o.items,
            "max_concurrency": o.concurrency, "seconds": dt, "items_per_s": o.items / dt}


# ---- replay: a msgpack invocation input (schema/records.md 1.3, 1.6) ----------

def mp_uint(v):
    if v < 128:
        return bytes([v])
    if v < 1 << 8:
        return b"\xcc" + v.to_bytes(1, "big")
    if v < 1 << 16:
        return b"\xcd" + v.to_bytes(2, "big")
    if v < 1 << 32:
        return b"\xce" + v.to_bytes(4, "big")
    return b"\xcf" + v.to_bytes(8, "big")


def mp_str(s):
    b = s.encode()
    if len(b) < 32:
        return bytes([0xA0 | len(b)]) + b
    if len(b) < 256:
        return b"\xd9" + bytes([len(b)]) + b
    return b"\xda" + len(b).to_bytes(2, "big") + b


def mp_bin(b):
    return (b"\xc4" + bytes([len(b)]) if len(b) < 256 else b"\xc5" + len(b).to_bytes(2, "big")) + b


def mp_array_header(n):
    return bytes([0x90 | n]) if n < 16 else b"\xdc" + n.to_bytes(2, "big") if n < 65536 else b"\xdd" + n.to_bytes(4, "big")


TYPE_EXECUTION, TYPE_STEP, STATUS_STARTED, STATUS_SUCCEEDED = 0, 1, 1, 4   # perdure.h


def replay_input(ops):
    """EXECUTION plus `ops` SUCCEEDED root steps named "s", with the Python
    SDK's ids (blake2b of the step counter, as the official SDK hashes them)
    and results as its default serdes writes them."""
    parts = [b"\x84", mp_uint(0), mp_uint(1), mp_uint(1),
             mp_str(ARN),
             mp_uint(2), mp_str("token-0"), mp_uint(3), mp_array_header(ops + 1),
             b"\x85", mp_uint(1), mp_str("execution-0"), mp_uint(4), mp_uint(TYPE_EXECUTION), mp_uint(6),
             mp_uint(STATUS_STARTED), mp_uint(7), mp_uint(EPOCH_MS), mp_uint(9), mp_bin(b'{"order":42}')]
    for n in range(1, ops + 1):
        op_id = hashlib.blake2b(str(n).encode()).hexdigest()[:64]
        parts += [b"\x89", mp_uint(1), mp_str(op_id),
                  mp_uint(3), mp_str("s"), mp_uint(4), mp_uint(TYPE_STEP), mp_uint(5), mp_str("Step"),
                  mp_uint(6), mp_uint(STATUS_SUCCEEDED), mp_uint(7), mp_uint(EPOCH_MS + n), mp_uint(8),
                  mp_uint(EPOCH_MS + n + 1), mp_uint(11), mp_bin(serialize(None, payload(n), op_id, ARN).encode()),
                  mp_uint(13), mp_uint(1)]
    return b"".join(parts)


# The smallest valid checkpoint response (records.md 1.8): a new token, no operations.
MIN_RESPONSE = b"\x82\x00\x01\x01\xa3tok"


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def bench_replay(o):
    ops = o.ops
    first_new = []

    def recorded(_):
        raise RuntimeError("a recorded step ran again")

    def new(_):
        first_new.append(time.perf_counter())
        return payload(0)

    @durable_execution
    def handler(event, context: DurableContext):
        for i in range(ops + 1):
            context.step(recorded if i < ops else new, name="s")
        return True

    if o.input:
        with open(o.input, "rb") as f:
            data = f.read()
    else:
        data = replay_input(ops)
    try:   # resets VmHWM to the current RSS, so that VmHWM afterwards is this invocation's peak
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    rss_before = status_kb("VmRSS")
    t0 = time.perf_counter()
    output = run_invocation(handler, data, WIRE_MSGPACK, lambda _req: MIN_RESPONSE, lambda: EPOCH_MS + ops + 10)
    t1 = time.perf_counter()
    hwm = status_kb("VmHWM")
    if not first_new or not output:
        sys.exit("python_bench: the replay did not reach a new step")
    return {"workload": "replay", "sdk": "python", "ops": ops, "input_bytes": len(data),
            "seconds_to_first_new": first_new[0] - t0, "seconds_total": t1 - t0, "rss_before_kb": rss_before,
            "peak_rss_kb": hwm, "rss_growth_mb": (hwm - rss_before) / 1024}


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="workload", required=True)
    s = sub.add_parser("sequential")
    s.add_argument("--store", choices=("memory", "durable"), default="memory")
    s.add_argument("--steps", type=int, default=10000)
    m = sub.add_parser("map")
    m.add_argument("--store", choices=("memory", "durable"), default="memory")
    m.add_argument("--items", type=int, default=1000)
    m.add_argument("--concurrency", type=int, default=50)
    r = sub.add_parser("replay")
    r.add_argument("--ops", type=int, default=10000)
    r.add_argument("--input", help="an input written by replay-input with the same --ops")
    i = sub.add_parser("replay-input")
    i.add_argument("--ops", type=int, default=10000)
    i.add_argument("--out", required=True)
    o = ap.parse_args()
    if o.workload == "replay-input":
        with open(o.out, "wb") as f:
            f.write(replay_input(o.ops))
        return
    fn = {"sequential": bench_sequential, "map": bench_map, "replay": bench_replay}[o.workload]
    print(json.dumps(fn(o)))


if __name__ == "__main__":
    main()
