"""Command line of tests/conformance/run."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import discovery
from .runner import (FAILED, NOT_IMPLEMENTED, OPTIONAL_FAILED, PASSED, UNCOVERED, Config, Outcome, run_case,
                     stop_all_workers, worker_unavailable)

MAX_DETAIL_LINES = 6


def parse_args(argv: list[str], repo: Path) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="tests/conformance/run",
        description="Run the durable-execution conformance requirements against a Perdure SDK. "
                    "Outcomes: PASSED, FAILED, OPTIONAL_FAILED, NOT_IMPLEMENTED, UNCOVERED. "
                    "Exit status 1 when any case is FAILED or UNCOVERED, 2 on a usage or setup error.")
    p.add_argument("--lang", choices=sorted(discovery.LANGUAGES), default="python", help="SDK language (default python)")
    p.add_argument("--requirements", type=Path, default=repo.parent / "shared" / "conformance" / "requirements",
                   help="requirements directory (default <repo>/../shared/conformance/requirements)")
    p.add_argument("--handlers", type=Path, default=None,
                   help="handlers directory (default <repo>/tests/conformance/<lang>/)")
    p.add_argument("--only", action="append", default=None, metavar="ID[,ID...]",
                   help="run only these ids (1-1), suite/id (step/1-1) or suites (step); repeatable")
    p.add_argument("--json", dest="json_file", type=Path, default=None, metavar="FILE",
                   help="write every outcome, with failure details, to FILE")
    p.add_argument("--jobs", "-j", type=int, default=8, metavar="N", help="cases run concurrently (default 8)")
    p.add_argument("--keep", action="store_true", help="keep each case's temp dir (store.db, worker.log)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="per-case time limit (default 120 s)")
    p.add_argument("--python", default=sys.executable, metavar="EXE",
                   help="interpreter for the python worker (default: the one running this harness)")
    p.add_argument("--worker-cmd", default=None, metavar="CMD",
                   help="replace the worker command prefix (testing the harness itself); it is given "
                        "--store DB NAME=FILE:handler ...")
    p.add_argument("--verbose", "-v", action="store_true", help="print every detail line of a failure")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    if args.only:
        args.only = [t.strip() for item in args.only for t in item.split(",") if t.strip()]
    return args


def format_outcome(o: Outcome, verbose: bool = False) -> list[str]:
    if o.outcome in (PASSED, FAILED, OPTIONAL_FAILED):
        head = f"{o.outcome} {o.name} ({o.seconds:.1f} s)"
    else:
        head = f"{o.outcome} {o.name}"
    lines = [head + (f": {o.reason}" if o.reason else "")]
    if o.outcome in (FAILED, OPTIONAL_FAILED):
        details = o.details if verbose else o.details[:MAX_DETAIL_LINES]
        lines += [f"    {d}" for d in details]
        if not verbose and len(o.details) > MAX_DETAIL_LINES:
            lines.append(f"    ... ({len(o.details) - MAX_DETAIL_LINES} more lines; --verbose or --json)")
        if o.tmpdir:
            lines.append(f"    kept: {o.tmpdir}")
    return lines


def summary(outcomes: list[Outcome]) -> tuple[str, dict]:
    counts = {k: sum(1 for o in outcomes if o.outcome == k)
              for k in (PASSED, FAILED, OPTIONAL_FAILED, NOT_IMPLEMENTED, UNCOVERED)}
    failed = counts[FAILED] + counts[UNCOVERED]
    skipped = counts[NOT_IMPLEMENTED] + counts[OPTIONAL_FAILED]
    line = f"{counts[PASSED]} passed, {failed} failed, {skipped} skipped"
    notes = []
    if counts[UNCOVERED]:
        notes.append(f"failed includes {counts[UNCOVERED]} uncovered")
    if skipped:
        notes.append(f"skipped = {counts[NOT_IMPLEMENTED]} not implemented + {counts[OPTIONAL_FAILED]} optional failed")
    if notes:
        line += " (" + "; ".join(notes) + ")"
    return line, counts


def main(argv: list[str] | None = None, repo: Path | None = None) -> int:
    repo = (repo or Path(__file__).resolve().parents[3]).resolve()
    args = parse_args(sys.argv[1:] if argv is None else argv, repo)
    lang = discovery.LANGUAGES[args.lang]
    handlers = (args.handlers or repo / "tests" / "conformance" / args.lang).resolve()
    requirements = args.requirements.resolve()
    if not requirements.is_dir():
        print(f"run: no requirements directory {requirements}", file=sys.stderr)
        return 2
    cli = os.environ.get("PERDURE_CLI") or str(repo / "build" / "perdure")
    if not (os.path.isfile(cli) and os.access(cli, os.X_OK)):
        print(f"run: no perdure CLI at {cli} (build it with scripts/setup, or set PERDURE_CLI)", file=sys.stderr)
        return 2

    reqs = discovery.discover_requirements(requirements)
    try:
        reqs = discovery.select(reqs, args.only)
    except ValueError as e:
        print(f"run: {e}", file=sys.stderr)
        return 2
    if not reqs:
        print(f"run: no requirement files under {requirements}", file=sys.stderr)
        return 2

    cfg = Config(repo=repo, cli=cli, lang=args.lang, handlers=handlers, python=args.python,
                 timeout=args.timeout, keep=args.keep,
                 worker_cmd=shlex.split(args.worker_cmd) if args.worker_cmd else None)
    infos = {r.name: discovery.handler_info(handlers, r, lang) for r in reqs}
    runnable = [r for r in reqs if infos[r.name].handler_file is not None
                and infos[r.name].not_implemented is None and infos[r.name].problem is None]
    targets = discovery.target_files(handlers, lang)

    if runnable:
        why = worker_unavailable(cfg)
        if why:
            print(f"run: {why}", file=sys.stderr)
            return 2
        missing = [t for t in discovery.TARGETS if t not in targets]
        if missing:
            print(f"note: invoke targets without a handler file in {handlers / '_targets'}: {', '.join(missing)}",
                  flush=True)

    print_lock = threading.Lock()
    outcomes: list[Outcome] = []

    def report(o: Outcome) -> None:
        with print_lock:
            outcomes.append(o)
            print("\n".join(format_outcome(o, args.verbose)), flush=True)

    started = time.monotonic()
    # Cases that need no run are reported first, in id order.
    for r in reqs:
        if r not in runnable:
            report(run_case(r, infos[r.name], cfg, targets))
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        futures = [pool.submit(run_case, r, infos[r.name], cfg, targets) for r in runnable]
        for f in as_completed(futures):
            report(f.result())
    except KeyboardInterrupt:
        print("run: interrupted; stopping workers", file=sys.stderr, flush=True)
        for f in futures:
            f.cancel()
        stop_all_workers()
        pool.shutdown(wait=True, cancel_futures=True)
        return 130
    pool.shutdown(wait=True)

    order = {r.name: i for i, r in enumerate(reqs)}
    outcomes.sort(key=lambda o: order[o.name])
    line, counts = summary(outcomes)
    if args.json_file:
        doc = {
            "lang": args.lang,
            "requirements": str(requirements),
            "handlers": str(handlers),
            "cli": cli,
            "seconds": round(time.monotonic() - started, 3),
            "summary": {"line": line, **{k.lower(): v for k, v in counts.items()}},
            "cases": [o.to_json() for o in outcomes],
        }
        args.json_file.parent.mkdir(parents=True, exist_ok=True)
        args.json_file.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    print(line, flush=True)
    return 1 if counts[FAILED] or counts[UNCOVERED] else 0
