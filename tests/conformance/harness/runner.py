"""One conformance case end to end.

Per case: a temp dir with a fresh store (store.db), one worker process serving the case's handler and the
invoke targets, the execution started and driven with the `perdure` CLI, then the README's stages in order:
history, ExpectedResult, ExpectedLogs. The first failing stage ends the case.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import callbacks as cb
from .discovery import LANGUAGES, HandlerInfo, Requirement
from .history import match_history, try_match_history
from .logs import check_logs, execution_records, parse_lines
from .result import check_result
from .values import bind_variables, show, substitute

PASSED, FAILED, OPTIONAL_FAILED, NOT_IMPLEMENTED, UNCOVERED = (
    "PASSED", "FAILED", "OPTIONAL_FAILED", "NOT_IMPLEMENTED", "UNCOVERED")

# Async runs stop at these (README "Synchronous and asynchronous runs"; STOPPED is not one of them).
ASYNC_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "CANCELLED"})
# A sync run waits until GetDurableExecution reports the execution ended (any end).
ENDED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED", "CANCELLED"})
EXECUTION_EVENT_STATUS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionCancelled": "CANCELLED",
    "ExecutionStopped": "STOPPED",
}

# Upstream polls every 2 s (AsyncConfig.PollIntervalSeconds default). Everything here is local, so the default
# is 0.5 s; an explicit AsyncConfig.PollIntervalSeconds in a requirement is still honoured. The no-progress
# timeout keeps upstream's 30 s default.
DEFAULT_POLL_INTERVAL = 0.5
DEFAULT_NO_PROGRESS = 30.0
SYNC_POLL_INTERVAL = 0.1
WORKER_STOP_GRACE = 5.0
CLI_TIMEOUT = 30.0
CLI_LOCKED = 5          # `perdure` exit status: store locked


@dataclass
class Config:
    repo: Path
    cli: str
    lang: str
    handlers: Path
    python: str = sys.executable
    timeout: float = 120.0
    keep: bool = False
    worker_cmd: list[str] | None = None     # replaces the language's worker command prefix (harness tests)
    poll_interval: float = DEFAULT_POLL_INTERVAL
    no_progress: float = DEFAULT_NO_PROGRESS


@dataclass
class Outcome:
    suite: str
    id: str
    outcome: str
    reason: str = ""
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    arn: str | None = None
    stage: str | None = None
    tmpdir: str | None = None
    optional: bool = False
    bindings: dict[str, Any] | None = None
    history: list[dict] | None = None
    execution: dict | None = None
    worker_log_tail: list[str] | None = None

    @property
    def name(self) -> str:
        return f"{self.suite}/{self.id}"

    def to_json(self) -> dict:
        d = {"suite": self.suite, "id": self.id, "name": self.name, "outcome": self.outcome,
             "seconds": round(self.seconds, 3)}
        for k in ("reason", "details", "stage", "arn", "tmpdir", "optional", "bindings", "history", "execution",
                  "worker_log_tail"):
            v = getattr(self, k)
            if v not in (None, "", [], False):
                d[k] = v
        return d


class CaseFailed(Exception):
    def __init__(self, stage: str, reason: str, details: list[str] | None = None):
        super().__init__(reason)
        self.stage = stage
        self.reason = reason
        self.details = details or []


# ---- worker commands per language ----------------------------------------------------------------------------

def _python_command(cfg: Config, store: Path, specs: list[str]) -> list[str]:
    return [cfg.python, "-m", "perdure", "worker", "--store", str(store), *specs]


def _python_env(cfg: Config) -> dict[str, str]:
    path = str(cfg.repo / "bindings" / "python")
    old = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": path + (os.pathsep + old if old else ""), "PYTHONUNBUFFERED": "1"}


def _python_probe(cfg: Config) -> list[str]:
    return [cfg.python, "-m", "perdure", "worker", "--help"]


NODE_WORKER = Path("bindings") / "node" / "bin" / "perdure-worker.mjs"


def _node_command(cfg: Config, store: Path, specs: list[str]) -> list[str]:
    return ["node", str(cfg.repo / NODE_WORKER), "--store", str(store), *specs]


def _node_env(cfg: Config) -> dict[str, str]:
    return {}


def _node_probe(cfg: Config) -> list[str] | None:
    if not (cfg.repo / NODE_WORKER).is_file():
        return None
    return ["node", str(cfg.repo / NODE_WORKER), "--help"]


WORKERS = {
    # language: (command builder, extra environment, availability probe)
    "python": (_python_command, _python_env, _python_probe),
    "node": (_node_command, _node_env, _node_probe),
}


def worker_unavailable(cfg: Config) -> str | None:
    """None when the language's worker command answers --help; else why not."""
    if cfg.worker_cmd:
        return None
    _, env_fn, probe_fn = WORKERS[cfg.lang]
    probe = probe_fn(cfg)
    if probe is None:
        return f"{cfg.lang} worker not available yet (no {NODE_WORKER} in {cfg.repo})"
    env = dict(os.environ, **env_fn(cfg))
    try:
        p = subprocess.run(probe, cwd=cfg.repo, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{cfg.lang} worker not available: {' '.join(probe)}: {e}"
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return f"{cfg.lang} worker not available: `{' '.join(probe)}` exited {p.returncode}: " + " | ".join(tail)
    return None


# ---- worker process ------------------------------------------------------------------------------------------

_live_lock = threading.Lock()
_live: set[subprocess.Popen] = set()


def stop_all_workers() -> None:
    """Ctrl-C: stop every worker this harness started."""
    with _live_lock:
        procs = list(_live)
    for p in procs:
        _signal_group(p, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    # The worker was started in its own session, so its process group id is its pid: this reaches the worker
    # and any process it started, and nothing else.
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


class Worker:
    def __init__(self, cfg: Config, store: Path, specs: list[str], env_extra: dict[str, str], log_path: Path):
        self.log_path = log_path
        if cfg.worker_cmd:
            cmd = [*cfg.worker_cmd, "--store", str(store), *specs]
            env_lang: dict[str, str] = {}
        else:
            build, env_fn, _ = WORKERS[cfg.lang]
            cmd = build(cfg, store, specs)
            env_lang = env_fn(cfg)
        self.cmd = cmd
        env = dict(os.environ, **env_lang, **env_extra)
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=cfg.repo, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        with _live_lock:
            _live.add(self.proc)
        self.exit_status: int | None = None

    def check_alive(self) -> None:
        rc = self.proc.poll()
        if rc is not None:
            raise CaseFailed("worker", f"the worker exited with status {rc} before the execution ended",
                             [f"worker: {' '.join(self.cmd)}"] + [f"| {l}" for l in self.tail(8)])

    def stop(self) -> None:
        if self.proc.poll() is None:
            _signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(WORKER_STOP_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc, signal.SIGKILL)
                self.proc.wait()
        self.exit_status = self.proc.returncode
        with _live_lock:
            _live.discard(self.proc)
        if not self._log.closed:
            self._log.close()

    def lines(self) -> list[str]:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return []

    def tail(self, n: int) -> list[str]:
        return [l[:300] for l in self.lines()[-n:]]


# ---- CLI -----------------------------------------------------------------------------------------------------

class Cli:
    def __init__(self, path: str, store: Path, cwd: Path):
        self.path = path
        self.store = store
        self.cwd = cwd

    def run(self, args: list[str], stage: str, want_json: bool = True) -> Any:
        cmd = [self.path, "--store", str(self.store), *(["--json"] if want_json else []), *args]
        deadline = time.monotonic() + CLI_TIMEOUT
        while True:
            try:
                p = subprocess.run(cmd, cwd=self.cwd, capture_output=True, text=True, timeout=CLI_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise CaseFailed(stage, f"`perdure {' '.join(args)}` did not answer within {CLI_TIMEOUT:g} s")
            if p.returncode == CLI_LOCKED and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            break
        if p.returncode != 0:
            msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
            raise CaseFailed(stage, f"`perdure {' '.join(args)}` exited {p.returncode}: "
                                    f"{msg[-1] if msg else '(no output)'}", msg[:-1][-4:])
        if not want_json:
            return p.stdout
        try:
            return json.loads(p.stdout)
        except ValueError:
            raise CaseFailed(stage, f"`perdure {' '.join(args)}` printed no JSON: {p.stdout[:200]!r}")

    def start(self, function: str, payload: Any) -> str:
        out = self.run(["start", function, "--input", json.dumps(payload)], "start")
        arn = out.get("DurableExecutionArn") if isinstance(out, dict) else None
        if not arn:
            raise CaseFailed("start", f"`perdure start` printed no DurableExecutionArn: {show(out)}")
        return arn

    def describe(self, arn: str, stage: str) -> dict:
        out = self.run(["show", arn], stage)
        ex = out.get("Execution") if isinstance(out, dict) else None
        if not isinstance(ex, dict):
            raise CaseFailed(stage, f"`perdure show` printed no Execution: {show(out)}")
        return ex

    def history(self, arn: str, stage: str) -> dict:
        out = self.run(["history", arn], stage)
        if not isinstance(out, dict) or not isinstance(out.get("Events"), list):
            raise CaseFailed(stage, f"`perdure history` printed no Events list: {show(out)}")
        return out


def history_status(history: dict) -> str | None:
    """A top-level ExecutionStatus if the response has one, else the status of the last Execution* end event."""
    explicit = history.get("ExecutionStatus")
    if explicit:
        return explicit
    for ev in reversed(history.get("Events") or []):
        st = EXECUTION_EVENT_STATUS.get(ev.get("EventType"))
        if st:
            return st
    return None


def summarize_events(events: list[dict], limit: int = 30) -> str:
    """`actual: 1 ExecutionStarted, 2 StepStarted, 3-9 InvocationCompleted (x7), ...`: runs of one event type
    are folded so a crash loop stays one line."""
    groups: list[list] = []     # [first id, last id, type, count]
    for e in events:
        eid, etype = e.get("EventId"), e.get("EventType")
        if groups and groups[-1][2] == etype and isinstance(eid, int) and eid == groups[-1][1] + 1:
            groups[-1][1] = eid
            groups[-1][3] += 1
        else:
            groups.append([eid, eid, etype, 1])
    parts = [f"{a} {t}" if n == 1 else f"{a}-{b} {t} (x{n})" for a, b, t, n in groups[:limit]]
    more = f", ... ({len(groups) - limit} more groups)" if len(groups) > limit else ""
    return "actual: " + (", ".join(parts) if parts else "(no events)") + more


def invocation_error_note(events: list[dict]) -> list[str]:
    """The last failed invocation's error, if any (InvocationCompletedDetails.Error), as a detail line."""
    for e in reversed(events):
        if e.get("EventType") == "InvocationCompleted":
            err = (e.get("InvocationCompletedDetails") or {}).get("Error")
            if isinstance(err, dict) and err:
                payload = err.get("Payload", err)
                return [f"last failed invocation (EventId {e.get('EventId')}): {show(payload, 300)}"]
    return []


def _history_failure(errors: list[str], events: list[dict], stage: str = "history") -> CaseFailed:
    details = errors[1:6]
    if len(errors) > 6:
        details.append(f"... and {len(errors) - 6} more mismatches")
    details.append(summarize_events(events))
    details += invocation_error_note(events)
    return CaseFailed(stage, f"history: {errors[0]}", details)


# ---- the case ------------------------------------------------------------------------------------------------

class CaseRun:
    def __init__(self, req: Requirement, info: HandlerInfo, cfg: Config, targets: dict[str, Path]):
        self.req, self.info, self.cfg, self.targets = req, info, cfg, targets
        self.bindings: dict[str, Any] = {}
        self.events: list[dict] = []
        self.execution: dict | None = None
        self.arn: str | None = None
        self.worker: Worker | None = None
        self.cli: Cli | None = None
        self.deadline = 0.0
        self.status: str | None = None

    # -- helpers
    def _check_deadline(self) -> None:
        if time.monotonic() >= self.deadline:
            if not self.events and self.cli is not None and self.arn:
                try:  # best effort, for the report
                    self.events = self.cli.history(self.arn, "timeout")["Events"]
                except CaseFailed:
                    pass
            details = [summarize_events(self.events)] if self.events else []
            if self.events:
                errs, _ = try_match_history(self.data.get("ExpectedExecutionHistory"), self.events, self.bindings)
                details += [f"first history mismatch: {errs[0]}"] if errs else ["the history matches so far"]
                details += invocation_error_note(self.events)
            raise CaseFailed("timeout", f"the case timed out after {self.cfg.timeout:g} s "
                                        f"(status {self.status or 'RUNNING'}, {len(self.events)} events)", details)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while True:
            left = min(end, self.deadline) - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.5))
        self._check_deadline()

    def run(self, tmp: Path) -> None:
        cfg, req = self.cfg, self.req
        try:
            with open(req.path, encoding="utf-8") as f:
                self.data = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            raise CaseFailed("load", f"cannot read {req.path}: {e}")
        data = self.data
        if not isinstance(data, dict):
            raise CaseFailed("load", f"{req.path} is not a mapping")
        try:
            self.bindings = bind_variables(data.get("Variables"))
            actions = cb.validate_actions(data.get("CallbackActions"))
        except (ValueError, cb.ActionError) as e:
            raise CaseFailed("load", str(e))
        payload = substitute(data.get("Input"), self.bindings)

        store = tmp / "store.db"
        specs = [f"{req.function_name}={self.info.handler_file}:handler"]
        specs += [f"{name}={path}:handler" for name, path in self.targets.items()]
        env_extra = {}
        if self.info.target_function_name:
            env_extra["TARGET_FUNCTION_NAME"] = self.info.target_function_name
        self.deadline = time.monotonic() + cfg.timeout
        cli = self.cli = Cli(cfg.cli, store, cfg.repo)
        # `start` creates the store; the worker, started next, finds the execution waiting in it.
        self.arn = cli.start(req.function_name, payload)
        self.worker = Worker(cfg, store, specs, env_extra, tmp / "worker.log")

        if data.get("AsyncInvoke"):
            self._run_async(cli, actions)
        else:
            self._run_sync(cli)

        # Logs: stop the worker first so everything it wrote is in the file.
        self.worker.stop()
        expected_logs = data.get("ExpectedLogs")
        if expected_logs is not None:
            records = execution_records(parse_lines(self.worker.lines()), self.arn)
            errors = check_logs(expected_logs, records, self.bindings)
            if errors:
                details = errors[1:6]
                details.append(f"{len(records)} log records of this execution in {self.worker.log_path.name}")
                raise CaseFailed("logs", f"logs: {errors[0]}", details)

    def _run_sync(self, cli: Cli) -> None:
        # One request/response invoke that returns when the execution has ended: poll GetDurableExecution.
        while True:
            ex = cli.describe(self.arn, "wait")
            self.status = ex.get("Status")
            if self.status in ENDED:
                self.execution = ex
                break
            self.worker.check_alive()
            self._check_deadline()
            time.sleep(SYNC_POLL_INTERVAL)
        # History read once, then matched; only then status and result.
        self.events = cli.history(self.arn, "history")["Events"]
        errors = match_history(self.data.get("ExpectedExecutionHistory"), self.events, self.bindings)
        if errors:
            raise _history_failure(errors, self.events)
        self._check_result(self.execution)

    def _check_result(self, execution: dict) -> None:
        expected = self.data.get("ExpectedResult")
        if expected is None:
            return
        errors = check_result(expected, execution, self.bindings)
        if errors:
            raise CaseFailed("result", errors[0], errors[1:])

    def _run_async(self, cli: Cli, actions: list[dict]) -> None:
        acfg = self.data.get("AsyncConfig") or {}
        interval = float(acfg.get("PollIntervalSeconds", self.cfg.poll_interval))
        no_progress = float(acfg.get("NoProgressTimeoutSeconds", self.cfg.no_progress))
        expected = self.data.get("ExpectedExecutionHistory")
        history_only = self.data.get("ExpectedResult") is None
        handled: set[str] = set()
        used: set[int] = set()
        last_count = 0
        last_progress = time.monotonic()
        while True:
            self._sleep(interval)
            hist = cli.history(self.arn, "poll")
            self.events = hist["Events"]
            self.status = history_status(hist)
            if self.status in ASYNC_TERMINAL:
                break
            now = time.monotonic()
            if len(self.events) > last_count:
                last_count, last_progress = len(self.events), now
            elif now - last_progress >= no_progress:
                errs, _ = try_match_history(expected, self.events, self.bindings)
                details = [summarize_events(self.events)]
                details += [f"first history mismatch: {errs[0]}"] if errs else []
                details += invocation_error_note(self.events)
                raise CaseFailed("poll", f"no new history events for {now - last_progress:.0f} s "
                                         f"(NoProgressTimeoutSeconds {no_progress:g}; status {self.status or 'RUNNING'})",
                                 details)
            self.worker.check_alive()
            for pending in cb.new_callbacks(self.events, handled):
                idx = cb.find_action(actions, used, pending.name, self.bindings)
                where = f"callback {pending.name!r} (EventId {pending.event.get('EventId')}, CallbackId {pending.callback_id})"
                if idx is None:
                    if not actions:
                        handled.add(pending.callback_id)   # no actions: callbacks stay open
                        continue
                    unused = [f"CallbackActions[{i}] {show(a)}" for i, a in enumerate(actions) if i not in used]
                    raise CaseFailed("callbacks", f"no CallbackAction matches {where}",
                                     unused or ["every action is already used"])
                action = actions[idx]
                used.add(idx)
                if cb.consumes(action):
                    handled.add(pending.callback_id)
                try:
                    args = cb.cli_args(action, pending.callback_id, self.bindings)
                except cb.ActionError as e:
                    raise CaseFailed("callbacks", f"CallbackActions[{idx}] for {where}: {e}")
                self._sleep(cb.delay_seconds(action))
                try:
                    cli.run(args, "callbacks", want_json=False)
                except CaseFailed as e:
                    raise CaseFailed("callbacks", f"CallbackActions[{idx}] ({cb.operation(action)}) for {where}: "
                                                  f"{e.reason}", e.details)
            if history_only:
                errs, trial = try_match_history(expected, self.events, self.bindings)
                if not errs:
                    self.bindings = trial
                    return
        errors = match_history(expected, self.events, self.bindings)
        if errors:
            raise _history_failure(errors, self.events)
        if self.data.get("ExpectedResult") is not None:
            self.execution = cli.describe(self.arn, "result")
            self._check_result(self.execution)


def run_case(req: Requirement, info: HandlerInfo, cfg: Config, targets: dict[str, Path]) -> Outcome:
    out = Outcome(suite=req.suite, id=req.id, outcome=FAILED)
    if info.problem:
        out.reason = info.problem
        return out
    if info.handler_file is None and info.not_implemented is None:
        exts = LANGUAGES[cfg.lang].extensions
        base = cfg.handlers / req.suite / req.id
        where = f"{base}{exts[0]}" if len(exts) == 1 else f"{base}{{{'|'.join(exts)}}}"
        out.outcome = UNCOVERED
        out.reason = f"no handler {where} and no NOT_IMPLEMENTED declaration"
        return out
    if info.not_implemented is not None:
        out.outcome = NOT_IMPLEMENTED
        out.reason = info.not_implemented
        return out

    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f"perdure-conf-{req.suite}-{req.id}-"))
    case = CaseRun(req, info, cfg, targets)
    try:
        case.run(tmp)
        out.outcome = PASSED
    except CaseFailed as e:
        out.reason, out.details, out.stage = e.reason, e.details, e.stage
    except Exception as e:  # a harness bug: report it as this case's failure, with the traceback in --json
        out.reason = f"harness error: {type(e).__name__}: {e}"
        out.stage = "harness"
        out.details = traceback.format_exc().strip().splitlines()[-6:]
    finally:
        if case.worker is not None:
            case.worker.stop()
        out.seconds = time.monotonic() - t0
        out.arn = case.arn
        data = getattr(case, "data", None)
        out.optional = bool(isinstance(data, dict) and data.get("optional"))
        if out.outcome != PASSED:
            if out.optional:
                out.outcome = OPTIONAL_FAILED
            out.bindings = {k: v for k, v in case.bindings.items()}
            out.history = case.events or None
            out.execution = case.execution
            if case.worker is not None:
                out.worker_log_tail = case.worker.tail(40)
        if cfg.keep:
            out.tmpdir = str(tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return out
