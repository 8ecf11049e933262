"""The supervisor with real child processes: output prefixing, crash report + restart,
giving up after repeated crashes, and stopping the whole group."""
from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time

from supportbot.runtime.supervisor import ProcessSpec, Supervisor

PY = sys.executable


def _spec(name, code):
    return ProcessSpec(name, [PY, "-u", "-c", code])


def test_output_is_prefixed_and_stop_terminates_every_child():
    out = io.StringIO()
    sup = Supervisor([_spec("one", "import time; print('hello'); time.sleep(60)"),
                      _spec("two", "import time; time.sleep(60)")], out=out, grace_period=5)
    sup.start()
    deadline = time.monotonic() + 10
    while "[one] hello" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.1)
    sup.stop()
    assert "[one] hello" in out.getvalue()
    assert all(c.process.poll() is not None for c in sup._children.values())


def test_a_crashing_child_is_reported_restarted_then_the_group_stops(tmp_path):
    out = io.StringIO()
    counter = tmp_path / "starts"
    crash = (f"import pathlib; p = pathlib.Path({str(counter)!r}); "
             "p.write_text(str(int(p.read_text() or 0) + 1) if p.exists() else '1'); raise SystemExit(3)")
    sup = Supervisor([_spec("flaky", crash), _spec("steady", "import time; time.sleep(60)")],
                     out=out, max_restarts=2, restart_window=60, grace_period=5)
    sup.start()
    code = sup.run_forever(poll_interval=0.05)
    log = out.getvalue()
    assert code == 1
    assert "ERROR: flaky exited unexpectedly with code 3" in log
    assert "restarting flaky" in log
    assert "stopping everything" in log
    assert int(counter.read_text()) == 3  # first start + 2 restarts
    assert all(c.process.poll() is not None for c in sup._children.values())


def test_sigint_stops_the_group_with_exit_code_zero():
    out = io.StringIO()
    sup = Supervisor([_spec("sleeper", "import time; time.sleep(60)")], out=out, grace_period=5)
    sup.start()
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    code = sup.run_forever(poll_interval=0.05)
    assert code == 0
    assert "received SIGINT: stopping" in out.getvalue()
    assert all(c.process.poll() is not None for c in sup._children.values())
