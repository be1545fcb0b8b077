"""Crashes through the SDK: real `python -m perdure worker` processes whose
handler kills its own process in the middle of a step.

The worker supervises itself (perdure/__main__.py): the work runs in a child
process; when the child dies the supervisor releases its leases at once
(Store.release_worker) and starts a new child, which re-runs the interrupted
invocation from its last checkpoint. What happens to the interrupted step is
protocol.md 4.13:

- AT_LEAST_ONCE_PER_RETRY: the step found STARTED re-runs its body (same
  attempt, no new START): StepStarted, InvocationCompleted(Runtime.ExitError),
  StepSucceeded (suite 3-12).
- AT_MOST_ONCE_PER_RETRY: the body is never re-run for that attempt; the
  retry strategy gets a StepInterruptedError: no retry -> StepFailed and a
  StepError (suite 1-17), retry -> StepFailed with a delay, then attempt 2.

When the whole worker tree is killed, nobody releases the lease: a new worker
resumes the execution once the lease expires (--lease-ms keeps that short).

Each handler appends one JSON line per body run to a side file ($CRASH_LOG),
which outlives the killed processes.

Run: cd /work/main && python3 -m pytest tests/python/test_worker_crash.py -q
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import event_types, events

from perdure import Store

BINDING = Path(__file__).resolve().parents[2] / "bindings" / "python"

HANDLERS = textwrap.dedent('''
    import json, os, signal, time
    from pathlib import Path

    from perdure import StepError, durable_execution
    from perdure.config import Duration, StepConfig, StepSemantics
    from perdure.retries import RetryDecision, RetryPresets
    from perdure.exceptions import StepInterruptedError

    LOG = Path(os.environ["CRASH_LOG"])
    AT_MOST_ONCE = StepSemantics.AT_MOST_ONCE_PER_RETRY


    def runs(tag):
        if not LOG.exists():
            return []
        return [r for r in map(json.loads, LOG.read_text().splitlines()) if r["tag"] == tag]


    def record(tag, **fields):
        with LOG.open("a") as f:
            f.write(json.dumps({"tag": tag, "pid": os.getpid(), **fields}) + "\\n")


    def wait_until_recorded(arn, event_type, name):
        """Blocks until the store holds that event (an async START is flushed by the
        engine's ticker while the body runs)."""
        from perdure import Store
        deadline = time.monotonic() + 10
        with Store(os.environ["CRASH_STORE"]) as st:
            while not any(e["EventType"] == event_type and e.get("Name") == name for e in st.history(arn)):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{event_type} {name} never recorded")
                time.sleep(0.02)


    def dies_the_first_time(tag, started=None):
        """A step body that SIGKILLs its own process on its first run ever
        (once its START is in the store when `started` = (arn, name))."""
        def body(step_context):
            first = not runs(tag)
            record(tag, attempt=step_context.attempt)
            if first:
                if started:
                    wait_until_recorded(started[0], "StepStarted", started[1])
                os.kill(os.getpid(), signal.SIGKILL)
            return f"{tag}: attempt {step_context.attempt}"
        return body


    @durable_execution
    def at_least_once(event, ctx):
        before = ctx.step(lambda sc: "before", name="before")
        arn = ctx.execution_context.durable_execution_arn
        value = ctx.step(dies_the_first_time("alo", started=(arn, "fragile")), name="fragile")
        return {"before": before, "value": value}


    @durable_execution
    def at_most_once_default_strategy(event, ctx):
        return ctx.step(dies_the_first_time("amo-default"), name="fragile",
                        config=StepConfig(step_semantics=AT_MOST_ONCE))


    @durable_execution
    def at_most_once_no_retry(event, ctx):
        try:
            ctx.step(dies_the_first_time("amo-none"), name="fragile",
                     config=StepConfig(step_semantics=AT_MOST_ONCE, retry_strategy=RetryPresets.none()))
        except StepError as e:
            return {"error": [type(e).__name__, e.error_type, e.message]}
        return "unreachable"


    def strategy(error, attempts_made):
        record("strategy", error=type(error).__name__, attempts_made=attempts_made,
               is_interrupted=isinstance(error, StepInterruptedError))
        return RetryDecision.retry(Duration(1)) if attempts_made < 3 else RetryDecision.no_retry()


    @durable_execution
    def at_most_once_retried(event, ctx):
        return ctx.step(dies_the_first_time("amo-retry"), name="fragile",
                        config=StepConfig(step_semantics=AT_MOST_ONCE, retry_strategy=strategy))


    @durable_execution
    def hangs_once(event, ctx):
        first = ctx.step(lambda sc: record("first") or "first", name="first")

        def slow(step_context):
            hanging = not runs("slow")
            record("slow", attempt=step_context.attempt)
            if hanging:
                Path(os.environ["CRASH_LOG"] + ".hanging").write_text(str(os.getpid()))
                time.sleep(60)              # the test kills the whole worker tree meanwhile
            return "slow done"

        return [first, ctx.step(slow, name="slow")]
''')


class Workers:
    """Starts `python -m perdure worker` process trees and kills what is left at teardown."""

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.store = str(tmp_path / "store.db")
        self.log = tmp_path / "runs.jsonl"
        self.module = tmp_path / "crash_handlers.py"
        self.module.write_text(HANDLERS)
        self.procs: list[subprocess.Popen] = []
        self.outputs: list[Path] = []

    def env(self) -> dict:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BINDING), env.get("PYTHONPATH")]))
        env["CRASH_LOG"] = str(self.log)
        env["CRASH_STORE"] = self.store
        return env

    def start(self, *functions: str, lease_ms: int | None = None) -> subprocess.Popen:
        """A supervised worker serving `functions` (handler names of HANDLERS)."""
        args = [sys.executable, "-m", "perdure", "worker", "--store", self.store]
        if lease_ms is not None:
            args += ["--lease-ms", str(lease_ms)]
        args += [f"{name}={self.module}:{name}" for name in functions]
        out = self.tmp_path / f"worker-{len(self.procs)}.log"
        self.outputs.append(out)
        with out.open("wb") as f:
            proc = subprocess.Popen(args, env=self.env(), cwd=self.tmp_path, stdout=f, stderr=subprocess.STDOUT,
                                    start_new_session=True)   # its own process group: the supervisor and its child
        self.procs.append(proc)
        return proc

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}" for p in self.outputs if p.exists())

    def runs(self, tag: str) -> list[dict]:
        if not self.log.exists():
            return []
        return [r for r in map(json.loads, self.log.read_text().splitlines()) if r["tag"] == tag]

    def wait_for(self, arn: str, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        with Store(self.store) as st:
            while True:
                d = st.describe(arn)
                if d["Status"] != "RUNNING":
                    return d
                if time.monotonic() > deadline:
                    raise AssertionError(f"{arn} still RUNNING after {timeout} s\n{self.output()}")
                time.sleep(0.05)

    def history(self, arn: str) -> list[dict]:
        with Store(self.store) as st:
            return st.history(arn)

    def start_execution(self, function: str, input=None) -> str:  # noqa: A002
        with Store(self.store) as st:
            return st.start(function, input)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)     # the supervisor stops its child and exits
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group we created
            except ProcessLookupError:
                pass
            proc.wait()


@pytest.fixture
def workers(tmp_path):
    w = Workers(tmp_path)
    yield w
    w.close()


def process_dead(pid: int, timeout: float = 5) -> bool:
    """True once pid no longer runs (gone, or a zombie waiting for its new parent to reap it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def invocation_errors(history: list[dict]) -> list[dict | None]:
    return [e["InvocationCompletedDetails"].get("Error") for e in events(history, "InvocationCompleted")]


def test_at_least_once_step_reruns_after_the_child_process_is_killed(workers):
    supervisor = workers.start("at_least_once")
    arn = workers.start_execution("at_least_once", {"order": 1})
    d = workers.wait_for(arn)
    assert d["Status"] == "SUCCEEDED", workers.output()
    assert json.loads(d["Result"]) == {"before": "before", "value": "alo: attempt 1"}
    runs = workers.runs("alo")
    # the body ran twice, in two processes, both as attempt 1 (the attempt never recorded an end)
    assert [r["attempt"] for r in runs] == [1, 1]
    assert runs[0]["pid"] != runs[1]["pid"]
    history = workers.history(arn)
    assert event_types(history, name="fragile") == ["StepStarted", "StepSucceeded"]   # no second START
    assert event_types(history) == ["ExecutionStarted", "StepStarted", "StepSucceeded", "StepStarted",
                                    "InvocationCompleted", "StepSucceeded", "InvocationCompleted",
                                    "ExecutionSucceeded"]
    crash, ok = invocation_errors(history)
    assert crash["Payload"]["ErrorType"] == "Runtime.ExitError" and ok is None
    assert events(history, "StepSucceeded", name="before")[0]["StepSucceededDetails"]["Result"]["Payload"] == \
        '"before"'   # completed steps are not re-run: only one "before" record
    assert supervisor.poll() is None, "the supervisor itself must survive its child's death"
    assert "exited with status -9; released 1 lease(s), restarting" in workers.output()


def test_at_most_once_step_is_not_rerun_and_fails_without_retry(workers):
    workers.start("at_most_once_no_retry")
    arn = workers.start_execution("at_most_once_no_retry")
    d = workers.wait_for(arn)
    assert d["Status"] == "SUCCEEDED", workers.output()
    message = "step attempt 1 was interrupted before it completed"
    assert json.loads(d["Result"]) == {"error": ["StepError", "StepInterruptedError", message]}
    assert len(workers.runs("amo-none")) == 1          # never re-run
    history = workers.history(arn)
    # suite 1-17: StepStarted, InvocationCompleted(Runtime.ExitError), StepFailed, InvocationCompleted
    assert event_types(history) == ["ExecutionStarted", "StepStarted", "InvocationCompleted", "StepFailed",
                                    "InvocationCompleted", "ExecutionSucceeded"]
    failed = events(history, "StepFailed")[0]["StepFailedDetails"]
    assert failed["Error"]["Payload"] == {"ErrorType": "StepInterruptedError", "ErrorMessage": message}
    assert failed["RetryDetails"] == {"CurrentAttempt": 1}
    assert invocation_errors(history)[0]["Payload"]["ErrorType"] == "Runtime.ExitError"


def test_at_most_once_interrupted_attempt_goes_to_the_retry_strategy(workers):
    workers.start("at_most_once_retried")
    arn = workers.start_execution("at_most_once_retried")
    d = workers.wait_for(arn)
    assert d["Status"] == "SUCCEEDED", workers.output()
    assert json.loads(d["Result"]) == "amo-retry: attempt 2"
    # attempt 1 ran once (and died); the strategy saw the interruption; attempt 2 ran once
    assert [r["attempt"] for r in workers.runs("amo-retry")] == [1, 2]
    assert [(r["error"], r["attempts_made"], r["is_interrupted"]) for r in workers.runs("strategy")] == [
        ("StepInterruptedError", 1, True)]
    history = workers.history(arn)
    assert event_types(history, name="fragile") == ["StepStarted", "StepFailed", "StepStarted", "StepSucceeded"]
    failed = events(history, "StepFailed")[0]["StepFailedDetails"]
    assert failed["Error"]["Payload"]["ErrorType"] == "StepInterruptedError"
    assert failed["RetryDetails"] == {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1}
    assert events(history, "StepSucceeded")[0]["StepSucceededDetails"]["RetryDetails"]["CurrentAttempt"] == 2


def test_at_most_once_interrupted_attempt_with_the_default_strategy(workers):
    """No retry_strategy: the engine's default preset (6 attempts, 5 s full jitter) decides."""
    workers.start("at_most_once_default_strategy")
    arn = workers.start_execution("at_most_once_default_strategy")
    d = workers.wait_for(arn)
    assert d["Status"] == "SUCCEEDED", workers.output()
    assert json.loads(d["Result"]) == "amo-default: attempt 2"
    assert [r["attempt"] for r in workers.runs("amo-default")] == [1, 2]
    history = workers.history(arn)
    assert event_types(history, name="fragile") == ["StepStarted", "StepFailed", "StepStarted", "StepSucceeded"]
    failed = events(history, "StepFailed")[0]["StepFailedDetails"]
    assert failed["Error"]["Payload"]["ErrorType"] == "StepInterruptedError"
    assert failed["RetryDetails"]["CurrentAttempt"] == 1
    assert 1 <= failed["RetryDetails"]["NextAttemptDelaySeconds"] <= 5


def test_killed_worker_tree_resumes_in_a_new_worker_after_the_lease_expires(workers):
    lease_ms = 1500
    first = workers.start("hangs_once", lease_ms=lease_ms)
    arn = workers.start_execution("hangs_once")
    hanging = Path(str(workers.log) + ".hanging")
    deadline = time.monotonic() + 20
    while not hanging.exists():
        assert time.monotonic() < deadline, workers.output()
        assert first.poll() is None, workers.output()
        time.sleep(0.02)
    # the body runs for a minute: its async START is flushed meanwhile (the engine's ticker), before the kill
    while not events(workers.history(arn), "StepStarted", name="slow"):
        assert time.monotonic() < deadline, workers.output()
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)               # supervisor and child at once: nobody releases the lease
    first.wait()
    killed_at = time.monotonic()
    assert process_dead(int(hanging.read_text()))     # the worker child (reparented: a zombie at most)
    with Store(workers.store) as st:
        assert st.describe(arn)["Status"] == "RUNNING"

    workers.start("hangs_once", lease_ms=lease_ms)
    d = workers.wait_for(arn)
    resumed_after = time.monotonic() - killed_at
    assert d["Status"] == "SUCCEEDED", workers.output()
    assert json.loads(d["Result"]) == ["first", "slow done"]
    assert resumed_after >= lease_ms / 1000 - 0.5      # it waited for the lease to expire
    assert len(workers.runs("first")) == 1             # the completed step was not re-run
    assert [r["attempt"] for r in workers.runs("slow")] == [1, 1]
    history = workers.history(arn)
    assert event_types(history) == ["ExecutionStarted", "StepStarted", "StepSucceeded", "StepStarted",
                                    "InvocationCompleted", "StepSucceeded", "InvocationCompleted",
                                    "ExecutionSucceeded"]
    assert invocation_errors(history)[0]["Payload"]["ErrorType"] == "Runtime.ExitError"


def child_pids(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_child_whose_supervisor_is_killed_stops_serving(workers):
    supervisor = workers.start("at_least_once")
    deadline = time.monotonic() + 20
    while not (children := child_pids(supervisor.pid)):
        assert time.monotonic() < deadline, workers.output()
        time.sleep(0.05)
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()
    # re-parented, it notices within its 0.5 s watch and stops its worker loop
    assert process_dead(children[0], timeout=10), "the orphaned child still serves\n" + workers.output()
