"""`perdure` / `python -m perdure`: the worker, and the C CLI for the rest.

    perdure worker [--store PATH] [--lease-ms MS] FUNCTION...
        FUNCTION is [NAME[@VERSION]=]TARGET, TARGET is module:attr or
        path/to/file.py:attr (attr defaults to `handler`; NAME defaults to
        the module's or file's name).

Every other command (start, list, show, history, callback, stop, events) is
the C `perdure` CLI shipped with the package.

The worker supervises itself: the work runs in a child process, and when that
process dies (a crash, os._exit, SIGKILL) the supervisor releases its leases
at once, so the interrupted invocation is recorded as crashed and re-run, and
starts a new child.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

# Set by the supervisor in its child's environment: the pid to outlive.
SUPERVISOR_PID = "PERDURE_SUPERVISOR_PID"
USAGE_EPILOG = "Other commands (start, list, show, history, callback, stop, events) are the C CLI: perdure help"


def load_target(spec: str):
    """"[NAME[@VERSION]=]module:attr" or "...=file.py:attr" -> (key, callable)."""
    key, sep, target = spec.partition("=")
    if not sep:
        key, target = "", spec
    where, _, attr = target.rpartition(":") if ":" in target else (target, "", "handler")
    attr = attr or "handler"
    if where.endswith(".py"):
        path = Path(where).resolve()
        module_name = f"perdure_fn_{abs(hash(str(path)))}"
        spec_obj = importlib.util.spec_from_file_location(module_name, path)
        if spec_obj is None or spec_obj.loader is None:
            raise SystemExit(f"perdure worker: cannot load {where}")
        module = importlib.util.module_from_spec(spec_obj)
        sys.modules[module_name] = module
        spec_obj.loader.exec_module(module)
        default_name = path.stem
    else:
        module = importlib.import_module(where)
        default_name = where.rsplit(".", 1)[-1]
    try:
        fn = getattr(module, attr)
    except AttributeError:
        raise SystemExit(f"perdure worker: {where} has no attribute {attr!r}") from None
    return key or default_name, fn


def _worker_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perdure worker", description="Serve durable functions from a store file.",
                                epilog=USAGE_EPILOG)
    p.add_argument("--store", help="store file (default: $PERDURE_STORE, else ./perdure.db)")
    p.add_argument("--lease-ms", type=int, default=0, help="lease length (default 60000)")
    p.add_argument("--id", help="worker id (default host:pid)")
    p.add_argument("--no-supervise", action="store_true",
                   help="run in this process; a crash then holds its leases until they expire")
    p.add_argument("functions", nargs="+", metavar="FUNCTION", help="[NAME[@VERSION]=]module:attr or file.py:attr")
    return p


def _serve(args) -> int:
    from perdure.worker import Worker

    functions = dict(load_target(spec) for spec in args.functions)
    worker = Worker(functions, args.store, worker_id=args.id, lease_ms=args.lease_ms)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    supervisor = int(os.environ.get(SUPERVISOR_PID, "0"))
    if supervisor:
        # A supervisor killed outright cannot stop its child: the child notices
        # it has been re-parented and stops instead of serving unsupervised.
        def watch_supervisor():
            while os.getppid() == supervisor:
                time.sleep(0.5)
            worker.stop()
        threading.Thread(target=watch_supervisor, daemon=True, name="perdure-supervisor-watch").start()
    print(f"perdure worker {worker.worker_id}: serving {', '.join(sorted(functions))} from {worker.store.path}",
          file=sys.stderr, flush=True)
    try:
        worker.serve_forever(poll_ms=500)
    except KeyboardInterrupt:
        pass
    finally:
        worker.close()
    return 0


def _supervise(args, argv: list[str]) -> int:
    """Runs the worker in a child process and restarts it when it dies."""
    from perdure.store import Store

    base = args.id or f"{socket.gethostname()}:{os.getpid()}"
    stopping = False
    child: subprocess.Popen | None = None

    def stop(*_):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    generation = 0
    while not stopping:
        generation += 1
        worker_id = f"{base}/{generation}"
        child = subprocess.Popen([sys.executable, "-m", "perdure", "worker", "--no-supervise", "--id", worker_id,
                                  *argv], env={**os.environ, SUPERVISOR_PID: str(os.getpid())})
        code = child.wait()
        if stopping:
            break
        with Store(args.store) as store:
            released = store.release_worker(worker_id)
        print(f"perdure worker: {worker_id} exited with status {code}; released {released} lease(s), restarting",
              file=sys.stderr, flush=True)
        time.sleep(0.2)
    if child is not None:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    return 0


def _worker(argv: list[str]) -> int:
    args = _worker_parser().parse_args(argv)
    if args.no_supervise:
        return _serve(args)
    passthrough = [a for a in argv if a != "--no-supervise"]
    # The child gets its own --id; drop the supervisor's.
    if args.id:
        i = passthrough.index("--id")
        del passthrough[i:i + 2]
    return _supervise(args, passthrough)


def _cli(argv: list[str]) -> int:
    from perdure._native import CLI_PATH, LIBRARY_PATH

    if CLI_PATH is None:
        print("perdure: the C CLI is not installed with this package", file=sys.stderr)
        return 2
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(LIBRARY_PATH.parent), env.get("LD_LIBRARY_PATH")]))
    os.execve(str(CLI_PATH), [str(CLI_PATH), *argv], env)
    return 127  # not reached


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        return _worker(argv[1:])
    return _cli(argv)


if __name__ == "__main__":
    sys.exit(main())
