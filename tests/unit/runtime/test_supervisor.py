"""The supervisor with real child processes: output prefixing, crash report + restart,
giving up after repeated crashes, stopping the whole group, and ready checks (not ready yet
vs. a broken check, and a check that never passes says why)."""
from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time

import pytest

from supportbot.runtime.supervisor import NotReady, ProcessSpec, Supervisor

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


# --- ready checks -------------------------------------------------------------------------
def _ready_spec(name, check):
    return ProcessSpec(name, [PY, "-u", "-c", "import time; time.sleep(60)"], ready_check=check)


def test_connection_refused_is_not_ready_yet_then_ready():
    out = io.StringIO()
    answers = iter([ConnectionRefusedError(111, "Connection refused"), NotReady("still loading"), True])

    def check():
        answer = next(answers)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    sup = Supervisor([_ready_spec("svc", check)], out=out, grace_period=5)
    sup.start()
    try:
        assert sup.wait_ready(timeout=30, poll_interval=0.01) is True
    finally:
        sup.stop()
    assert "[supervisor] svc is ready" in out.getvalue()
    assert "ERROR" not in out.getvalue() and sup.not_ready == {}


def test_a_broken_ready_check_is_reported_with_its_cause():
    out = io.StringIO()

    def check():
        try:
            {}["port"]
        except KeyError as exc:
            raise ValueError("bad health URL") from exc

    sup = Supervisor([_ready_spec("svc", check)], out=out, grace_period=5)
    sup.start()
    started = time.monotonic()
    try:
        assert sup.wait_ready(timeout=30, poll_interval=0.01) is False
    finally:
        sup.stop()
    log = out.getvalue()
    assert time.monotonic() - started < 10  # not retried until the timeout
    assert "ERROR: the ready check of svc failed: ValueError: bad health URL <- KeyError: 'port'" in log
    assert "[svc ready check] Traceback" in log
    assert sup.not_ready == {"svc": "check failed"}


def test_a_check_that_never_becomes_ready_says_why():
    out = io.StringIO()

    def check():
        raise NotReady("http://127.0.0.1:9/health: ConnectionError")

    sup = Supervisor([_ready_spec("svc", check), _ready_spec("quiet", lambda: False)],
                     out=out, grace_period=5)
    sup.start()
    try:
        assert sup.wait_ready(timeout=0.3, poll_interval=0.05) is False
    finally:
        sup.stop()
    log = out.getvalue()
    assert ("ERROR: svc is not ready after 0.3 s; last check: NotReady: "
            "http://127.0.0.1:9/health: ConnectionError") in log
    assert "ERROR: quiet is not ready after 0.3 s; last check: the ready check answered not ready" in log
    assert sup.not_ready == {"svc": "timeout", "quiet": "timeout"}


def test_a_process_that_exits_before_it_is_ready_is_reported():
    out = io.StringIO()
    spec = ProcessSpec("dies", [PY, "-c", "raise SystemExit(4)"], ready_check=lambda: False)
    sup = Supervisor([spec], out=out, grace_period=5)
    sup.start()
    try:
        assert sup.wait_ready(timeout=30, poll_interval=0.05) is False
    finally:
        sup.stop()
    assert "ERROR: dies exited with code 4 before it was ready" in out.getvalue()
    assert sup.not_ready == {"dies": "exited"}


def test_url_check_maps_refused_connections_to_not_ready_and_raises_other_errors():
    import requests

    from supportbot.runtime.cli import _url_ok

    with pytest.raises(NotReady, match="127.0.0.1:9"):
        _url_ok("http://127.0.0.1:9/health")  # the discard port: nothing listens
    with pytest.raises(requests.exceptions.InvalidURL):
        _url_ok("http://[not-a-host/health")
