"""End-to-end tests of the `perdure` command-line tool.

Drives the real binary on a temporary SQLite store. The executions started here
have no worker, so they stay RUNNING, except those that tests/cli/cli_worker.c
runs: one invocation at a time of a function that does a step "prepare", then a
child context "approval-flow" that waits on the callback "approval".

    python3 tests/cli/test_cli.py PATH/TO/perdure PATH/TO/cli_worker
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

PERDURE = None
WORKER = None


class CliTestCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="perdure-cli-")
        self.store = os.path.join(self._tmp.name, "store.db")

    def tearDown(self):
        self._tmp.cleanup()

    def run_cli(self, *args, store=True, env=None, timeout=30):
        argv = [PERDURE]
        if store:
            argv += ["--store", self.store]
        argv += list(args)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        return proc

    def ok(self, *args, **kw):
        proc = self.run_cli(*args, **kw)
        self.assertEqual(proc.returncode, 0, f"perdure {args}: {proc.stderr}")
        self.assertEqual(proc.stderr, "", f"perdure {args} wrote to stderr")
        return proc.stdout

    def ok_json(self, *args, **kw):
        out = self.ok("--json", *args, **kw)
        return json.loads(out)

    def fails(self, *args, code=None, **kw):
        """The command fails with ONE line on stderr, "perdure: <reason>"."""
        proc = self.run_cli(*args, **kw)
        self.assertNotEqual(proc.returncode, 0, f"perdure {args} should fail: {proc.stdout}")
        if code is not None:
            self.assertEqual(proc.returncode, code, f"perdure {args}: {proc.stderr}")
        lines = proc.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"perdure {args}: want one line on stderr, got {proc.stderr!r}")
        self.assertTrue(lines[0].startswith("perdure: "), lines[0])
        self.assertTrue(proc.stderr.endswith("\n"))
        return lines[0]

    def start(self, function="orders", *args):
        return self.ok("start", function, *args).splitlines()[0]

    def worker(self, function):
        proc = subprocess.run([WORKER, self.store, function], capture_output=True, text=True, timeout=30)
        self.assertEqual(proc.returncode, 0, f"cli_worker: {proc.stdout} {proc.stderr}")
        return proc.stdout.strip()

    def events(self, arn):
        return self.ok_json("history", arn)["Events"]


class TestUsage(CliTestCase):
    def test_help(self):
        out = self.ok("--help", store=False)
        self.assertIn("usage: perdure", out)
        for command in ("start", "list", "show", "history", "callback", "stop", "events"):
            self.assertIn(command, out)
        for command in ("start", "list", "show", "history", "callback", "stop", "events"):
            out = self.ok(command, "--help")
            self.assertIn("usage: perdure", out)
            self.assertIn(command, out)
        self.assertIn("start FUNCTION", self.ok("help", "start"))
        self.assertFalse(os.path.exists(self.store), "help must not create a store")

    def test_unknown_command_and_option(self):
        self.assertIn("unknown command", self.fails("frobnicate", code=2))
        self.assertIn("missing COMMAND", self.fails(code=2))
        self.assertIn("--bogus", self.fails("list", "--bogus", code=2))
        self.assertIn("--bogus", self.fails("--bogus", "list", code=2))
        self.assertIn("unknown callback action", self.fails("callback", "approve", "x", code=2))

    def test_missing_arguments(self):
        self.assertIn("missing FUNCTION", self.fails("start", code=2))
        self.assertIn("missing EXECUTION", self.fails("show", code=2))
        self.assertIn("missing EXECUTION", self.fails("history", code=2))
        self.assertIn("missing EXECUTION", self.fails("stop", code=2))
        self.assertIn("missing CALLBACK_ID", self.fails("callback", "succeed", code=2))
        self.fails("callback", code=2)
        self.assertIn("needs a value", self.fails("start", "f", "--input", code=2))
        self.fails("list", "--status", "SLEEPING", code=2)
        self.fails("events", "--after", "soon", code=2)

    def test_bad_input_json(self):
        for bad in ('{"a":', "not json", "", "{'a': 1}"):
            line = self.fails("start", "orders", "--input", bad, code=2)
            self.assertTrue(line.startswith("perdure: --input is not valid JSON: "), line)
        self.assertFalse(os.path.exists(self.store), "bad input must not touch the store")


class TestStore(CliTestCase):
    def test_corrupt_store(self):
        with open(self.store, "wb") as f:
            f.write(b"this is not a SQLite database, just some text\n" * 100)
        for args in (("list",), ("start", "orders"), ("show", "x"), ("events",),
                     ("callback", "succeed", "abc")):
            self.fails(*args, code=6)

    def test_missing_store(self):
        self.assertIn("no store", self.fails("list", code=6))
        self.assertIn("no store", self.fails("callback", "heartbeat", "abc", code=6))
        self.assertFalse(os.path.exists(self.store))

    def test_store_from_environment(self):
        env = dict(os.environ, PERDURE_STORE=self.store)
        arn = self.ok("start", "orders", "--name", "from-env", store=False, env=env).strip()
        self.assertTrue(os.path.exists(self.store))
        self.assertIn("from-env", self.ok("list", store=False, env=env))
        self.assertIn(arn, self.ok("list", "--json", store=False, env=env))

    def test_default_store_in_current_directory(self):
        proc = subprocess.run([PERDURE, "start", "orders"], capture_output=True, text=True, timeout=30,
                              cwd=self._tmp.name, env={k: v for k, v in os.environ.items() if k != "PERDURE_STORE"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertTrue(os.path.exists(os.path.join(self._tmp.name, "perdure.db")))


class TestStartListShow(CliTestCase):
    def test_start_prints_arn(self):
        arn = self.start("orders", "--input", '{"order": 42}', "--name", "order-42")
        self.assertTrue(arn.startswith("arn:"), arn)
        self.assertIn(":function:orders", arn)
        self.assertIn("/durable-execution/order-42/", arn)
        desc = self.ok_json("show", arn)["Execution"]
        self.assertEqual(desc["Status"], "RUNNING")
        self.assertEqual(desc["DurableExecutionName"], "order-42")
        self.assertEqual(json.loads(desc["InputPayload"]), {"order": 42})

    def test_start_is_idempotent_by_name(self):
        first = self.ok("start", "orders", "--name", "same").splitlines()
        self.assertEqual(len(first), 1)
        second = self.ok("start", "orders", "--name", "same").splitlines()
        self.assertEqual(second[0], first[0])
        self.assertIn("already started", second[1])
        j = self.ok_json("start", "orders", "--name", "same")
        self.assertEqual(j, {"DurableExecutionArn": first[0], "AlreadyStarted": True})
        j = self.ok_json("start", "orders", "--name", "other")
        self.assertFalse(j["AlreadyStarted"])
        self.assertEqual(len(self.ok_json("list")["DurableExecutions"]), 2)

    def test_start_version(self):
        arn = self.start("orders", "--version", "7", "--name", "v7")
        self.assertIn(":function:orders:7/", arn)
        rows = [l for l in self.ok("list").splitlines() if l.startswith("v7 ")]
        self.assertEqual(len(rows), 1)
        self.assertIn(" 7 ", rows[0])

    def test_list_and_filters(self):
        a = self.start("orders", "--name", "a1")
        self.start("orders", "--name", "a2")
        self.start("billing", "--name", "b1")
        self.ok("stop", a)

        out = self.ok("list").splitlines()
        header = out[0].split()
        self.assertEqual(header, ["NAME", "FUNCTION", "VERSION", "STATUS", "STARTED", "ENDED", "ID"])
        self.assertEqual(len(out), 4)
        names = {line.split()[0] for line in out[1:]}
        self.assertEqual(names, {"a1", "a2", "b1"})
        a1 = next(line for line in out[1:] if line.startswith("a1 "))
        self.assertIn("STOPPED", a1)
        self.assertIn("orders", a1)
        self.assertRegex(a1, r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
        self.assertTrue(a1.rstrip().endswith(a.rsplit("/", 1)[1]))

        out = self.ok("list", "--function", "orders").splitlines()
        self.assertEqual({line.split()[0] for line in out[1:]}, {"a1", "a2"})
        out = self.ok("list", "--status", "RUNNING").splitlines()
        self.assertEqual({line.split()[0] for line in out[1:]}, {"a2", "b1"})
        out = self.ok("list", "--status", "STOPPED", "--function", "orders").splitlines()
        self.assertEqual({line.split()[0] for line in out[1:]}, {"a1"})
        self.assertIn("no executions", self.ok("list", "--function", "nothing"))

        listed = self.ok_json("list", "--status", "RUNNING")["DurableExecutions"]
        self.assertEqual({e["DurableExecutionName"] for e in listed}, {"a2", "b1"})
        for e in listed:
            self.assertEqual(e["Status"], "RUNNING")
            self.assertTrue(e["DurableExecutionArn"].startswith("arn:"))

    def test_show_by_arn_name_and_id(self):
        arn = self.start("orders", "--name", "shown", "--input", "[1,2]")
        by_arn = self.ok("show", arn)
        self.assertIn("shown", by_arn)
        self.assertIn(arn, by_arn)
        self.assertIn("RUNNING", by_arn)
        self.assertIn("[1,2]", by_arn)
        self.assertEqual(self.ok("show", "shown"), by_arn)
        self.assertEqual(self.ok("show", arn.rsplit("/", 1)[1]), by_arn)
        j = self.ok_json("show", "shown")
        self.assertEqual(j["Execution"]["DurableExecutionArn"], arn)
        self.assertIsInstance(j["Operations"], list)

    def test_unknown_execution(self):
        self.start("orders", "--name", "exists")
        for command in ("show", "history", "stop"):
            self.assertIn("nope", self.fails(command, "nope", code=3))
        arn = "arn:aws:lambda:us-east-1:000000000000:function:orders:$LATEST/durable-execution/nope/0000"
        for command in ("show", "history", "stop"):
            self.fails(command, arn, code=3)

    def test_name_used_by_another_function(self):
        self.start("orders", "--name", "twin")
        proc = self.run_cli("start", "billing", "--name", "twin")
        if proc.returncode == 0:
            # names are per function in this store: the name alone is ambiguous
            self.assertIn("pass the ARN", self.fails("show", "twin", code=2))
        else:
            self.assertEqual(proc.returncode, 4, proc.stderr)
            self.assertEqual(len(proc.stderr.splitlines()), 1)
            self.assertTrue(proc.stderr.startswith("perdure: "))


class TestHistoryStopEvents(CliTestCase):
    def test_history(self):
        arn = self.start("orders", "--name", "h", "--input", '{"x": 1}')
        proc = self.run_cli("history", arn, "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        history = json.loads(proc.stdout)
        first = history["Events"][0]
        self.assertEqual(first["EventType"], "ExecutionStarted")
        self.assertEqual(first["EventId"], 1)
        self.assertEqual(first["ExecutionStartedDetails"]["Input"]["Payload"], '{"x": 1}')
        # the global --json before the command gives the same bytes
        self.assertEqual(self.ok("--json", "history", "h"), proc.stdout)

        table = self.ok("history", "h").splitlines()
        self.assertEqual(table[0].split(), ["ID", "EVENT", "NAME", "TIME", "DETAIL"])
        self.assertTrue(table[1].startswith("1 "))
        self.assertIn("ExecutionStarted", table[1])
        self.assertIn('{"x": 1}', table[1])

        no_data = self.ok_json("history", "h", "--no-data")["Events"][0]
        self.assertNotIn("Payload", no_data["ExecutionStartedDetails"].get("Input", {}))

    def test_stop(self):
        arn = self.start("orders", "--name", "to-stop")
        self.assertIn(arn, self.ok("stop", "to-stop", "--message", "no longer needed"))
        desc = self.ok_json("show", arn)["Execution"]
        self.assertEqual(desc["Status"], "STOPPED")
        self.assertIn("EndTimestamp", desc)
        types = [e["EventType"] for e in self.events(arn)]
        self.assertEqual(types[0], "ExecutionStarted")
        self.assertEqual(types[-1], "ExecutionStopped")
        stopped = self.events(arn)[-1]["ExecutionStoppedDetails"]["Error"]["Payload"]
        self.assertEqual(stopped.get("ErrorMessage"), "no longer needed")
        self.assertIn("STOPPED", self.ok("show", arn))
        # an ended execution cannot be stopped again
        self.fails("stop", arn, code=4)

        j = self.ok_json("stop", self.start("orders", "--name", "json-stop"))
        self.assertEqual(j["Status"], "STOPPED")

    def test_callback_unknown_id(self):
        self.start("orders")
        self.fails("callback", "succeed", "bm9zdWNoY2FsbGJhY2s=", '"x"', code=3)
        self.fails("callback", "fail", "bm9zdWNoY2FsbGJhY2s=", "--type", "E", "--message", "m", code=3)
        self.fails("callback", "heartbeat", "bm9zdWNoY2FsbGJhY2s=", code=3)

    def test_events(self):
        a = self.start("orders", "--name", "e1")
        self.start("orders", "--name", "e2")
        self.ok("stop", a)
        lines = self.ok("events").splitlines()
        self.assertEqual(len(lines), 3, lines)
        self.assertIn("RUNNING", lines[0])
        self.assertIn("e1", lines[0])
        self.assertIn("STOPPED", lines[2])
        self.assertIn(a, lines[2])

        events = [json.loads(line) for line in self.ok("--json", "events").splitlines()]
        self.assertEqual(len(events), 3)
        self.assertEqual([e["detail"]["status"] for e in events], ["RUNNING", "RUNNING", "STOPPED"])
        seqs = [e["Sequence"] for e in events]
        self.assertEqual(seqs, sorted(seqs))
        after = [json.loads(line) for line in self.ok("events", "--json", "--after", str(seqs[0])).splitlines()]
        self.assertEqual([e["Sequence"] for e in after], seqs[1:])
        self.assertEqual(self.ok("events", "--after", str(seqs[-1])), "")

    def test_events_follow(self):
        self.start("orders", "--name", "before")
        proc = subprocess.Popen([PERDURE, "--store", self.store, "--json", "events", "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            first = json.loads(proc.stdout.readline())
            self.assertEqual(first["detail"]["durableExecutionName"], "before")
            arn = self.start("orders", "--name", "during")
            second = json.loads(proc.stdout.readline())
            self.assertEqual(second["detail"]["durableExecutionArn"], arn)
            self.assertEqual(second["detail"]["status"], "RUNNING")
            self.ok("stop", arn)
            third = json.loads(proc.stdout.readline())
            self.assertEqual(third["detail"]["status"], "STOPPED")
            # it sleeps while nothing happens
            time.sleep(1.5)
            with open(f"/proc/{proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu_ticks = int(fields[11]) + int(fields[12])
            self.assertLess(cpu_ticks, 100, "events --follow should not spin")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=10)
            self.assertEqual(proc.returncode, 0, err)
            self.assertEqual(out, "")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    def test_events_follow_sigterm(self):
        proc = subprocess.Popen([PERDURE, "--store", self.store, "events", "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            arn = self.start("orders", "--name", "t")
            line = proc.stdout.readline()
            self.assertIn(arn, line)
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=10)
            self.assertEqual(proc.returncode, 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


class TestCallbacks(CliTestCase):
    """Executions run by cli_worker: they wait on a callback answered with the CLI."""

    def suspended_on_callback(self, name):
        arn = self.start("approvals", "--name", name, "--input", "{}")
        out = self.worker("approvals")
        self.assertTrue(out.startswith("callback "), out)
        return arn, out.split(" ", 1)[1]

    def test_callback_succeed(self):
        arn, callback_id = self.suspended_on_callback("cb-ok")
        show = self.ok("show", "cb-ok").splitlines()
        header = next(l for l in show if l.startswith("NAME "))
        self.assertEqual(header.split(), ["NAME", "TYPE", "STATUS", "ATTEMPTS", "STARTED", "DURATION", "DETAIL"])
        rows = show[show.index(header) + 1:]
        prepare = next(r for r in rows if r.startswith("prepare "))
        self.assertIn("STEP/Step", prepare)
        self.assertIn("SUCCEEDED", prepare)
        flow = next(r for r in rows if r.startswith("approval-flow "))
        self.assertIn("CONTEXT", flow)
        self.assertIn("STARTED", flow)
        # the callback is nested under its child context, and shows its id
        approval = next(r for r in rows if r.lstrip().startswith("approval "))
        self.assertTrue(approval.startswith("  approval "), approval)
        self.assertIn("CALLBACK", approval)
        self.assertIn(callback_id, approval)
        self.assertLess(rows.index(flow), rows.index(approval))
        ops = self.ok_json("show", arn)["Operations"]
        self.assertIn(callback_id, json.dumps(ops))

        self.assertIn("succeeded", self.ok("callback", "succeed", callback_id, '{"approved": true}'))
        # a callback is answered once
        self.fails("callback", "succeed", callback_id, '"again"', code=4)
        self.fails("callback", "fail", callback_id, code=4)

        self.assertEqual(self.worker("approvals"), "done")
        desc = self.ok_json("show", arn)["Execution"]
        self.assertEqual(desc["Status"], "SUCCEEDED")
        self.assertEqual(desc["Result"], '{"approved": true}')
        show = self.ok("show", arn)
        self.assertIn("SUCCEEDED", show)
        self.assertIn('{"approved": true}', show)

        events = self.events(arn)
        self.assertEqual(events[0]["EventType"], "ExecutionStarted")
        self.assertEqual(events[0]["EventId"], 1)
        self.assertEqual([e["EventId"] for e in events], list(range(1, len(events) + 1)))
        types = [e["EventType"] for e in events]
        self.assertIn("CallbackStarted", types)
        self.assertIn("CallbackSucceeded", types)
        self.assertEqual(types[-1], "ExecutionSucceeded")
        succeeded = next(e for e in events if e["EventType"] == "CallbackSucceeded")
        self.assertEqual(succeeded["CallbackSucceededDetails"]["Result"]["Payload"], '{"approved": true}')
        table = self.ok("history", arn)
        self.assertIn("CallbackSucceeded", table)
        self.assertIn(callback_id, table)

        self.assertEqual(self.ok_json("list", "--status", "SUCCEEDED")["DurableExecutions"][0]["DurableExecutionArn"],
                         arn)

    def test_callback_succeed_empty_payload_and_heartbeat(self):
        arn, callback_id = self.suspended_on_callback("cb-empty")
        self.assertEqual(self.ok_json("callback", "heartbeat", callback_id)["CallbackId"], callback_id)
        j = self.ok_json("callback", "succeed", callback_id)
        self.assertEqual(j, {"CallbackId": callback_id, "Status": "SUCCEEDED"})
        succeeded = next(e for e in self.events(arn) if e["EventType"] == "CallbackSucceeded")
        self.assertEqual(succeeded["CallbackSucceededDetails"]["Result"].get("Payload", ""), "")

    def test_callback_by_execution_and_name(self):
        arn, callback_id = self.suspended_on_callback("cb-named")
        self.fails("callback", "heartbeat", "--execution", "cb-named", "no-such-callback", code=3)
        self.fails("callback", "heartbeat", "--execution", "no-such-execution", "approval", code=3)
        j = self.ok_json("callback", "succeed", "--execution", "cb-named", "approval", "yes")
        self.assertEqual(j, {"CallbackId": callback_id, "Status": "SUCCEEDED"})
        # answered: no open callback of that name any more
        self.fails("callback", "succeed", "--execution", "cb-named", "approval", "again", code=3)
        self.assertEqual(self.worker("approvals"), "done")
        self.assertEqual(self.ok_json("show", arn)["Execution"]["Result"], "yes")

    def test_callback_fail(self):
        arn, callback_id = self.suspended_on_callback("cb-fail")
        self.assertIn("failed", self.ok("callback", "fail", callback_id, "--type", "Rejected",
                                        "--message", "manager said no"))
        self.fails("callback", "succeed", callback_id, code=4)
        self.assertEqual(self.worker("approvals"), "done")
        desc = self.ok_json("show", arn)["Execution"]
        self.assertEqual(desc["Status"], "FAILED")
        failed = next(e for e in self.events(arn) if e["EventType"] == "CallbackFailed")
        error = failed["CallbackFailedDetails"]["Error"]["Payload"]
        self.assertEqual(error["ErrorType"], "Rejected")
        self.assertEqual(error["ErrorMessage"], "manager said no")
        self.assertIn("Rejected: manager said no", self.ok("history", arn))

    def test_start_wait(self):
        waiting = subprocess.Popen([PERDURE, "--store", self.store, "start", "approvals", "--name", "waited",
                                    "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            arn = waiting.stdout.readline().strip()
            self.assertTrue(arn.startswith("arn:"), arn)
            callback_id = self.worker("approvals").split(" ", 1)[1]
            self.ok("callback", "succeed", callback_id, '"yes"')
            time.sleep(0.3)
            self.assertIsNone(waiting.poll(), "--wait returned before the execution ended")
            self.assertEqual(self.worker("approvals"), "done")
            out, err = waiting.communicate(timeout=20)
            self.assertEqual(waiting.returncode, 0, err)
            self.assertIn("SUCCEEDED", out)
            self.assertIn('"yes"', out)
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.communicate()

        # an execution that already ended: --wait returns at once, with its status
        proc = self.run_cli("--json", "start", "approvals", "--name", "waited", "--wait", timeout=10)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        j = json.loads(proc.stdout)
        self.assertEqual(j["Status"], "SUCCEEDED")
        self.assertTrue(j["AlreadyStarted"])

    def test_start_wait_interrupted(self):
        waiting = subprocess.Popen([PERDURE, "--store", self.store, "start", "orders", "--name", "never", "--wait"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            arn = waiting.stdout.readline().strip()
            self.assertTrue(arn.startswith("arn:"), arn)
            waiting.send_signal(signal.SIGINT)
            out, err = waiting.communicate(timeout=10)
            self.assertEqual(waiting.returncode, 128 + signal.SIGINT)
            self.assertEqual(err, f"perdure: interrupted: the execution is still RUNNING: {arn}\n")
        finally:
            if waiting.poll() is None:
                waiting.kill()
                waiting.communicate()
        self.assertEqual(self.ok_json("show", arn)["Execution"]["Status"], "RUNNING")

    def test_start_wait_failed(self):
        arn, callback_id = self.suspended_on_callback("wait-fail")
        self.ok("callback", "fail", callback_id, "--message", "no")
        self.assertEqual(self.worker("approvals"), "done")
        proc = self.run_cli("start", "approvals", "--name", "wait-fail", "--wait", timeout=10)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("FAILED", proc.stdout)
        # a stopped one, too
        stopped = self.start("orders", "--name", "wait-stopped")
        self.ok("stop", stopped)
        proc = self.run_cli("start", "orders", "--name", "wait-stopped", "--wait", timeout=10)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("STOPPED", proc.stdout)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: test_cli.py PERDURE CLI_WORKER [unittest args]")
    PERDURE = os.path.abspath(sys.argv[1])
    WORKER = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
