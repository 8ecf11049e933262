"""A small process supervisor: starts the assistant's processes as one group.

- every child's output is prefixed with its name;
- one Ctrl-C (SIGINT) or SIGTERM stops all children (SIGTERM, then SIGKILL after a grace period);
- a child that exits on its own is reported loudly and restarted with a back-off, at most
  `max_restarts` times in `restart_window` seconds; after that the whole group stops with
  a non-zero exit code, so a broken install never looks like a running assistant;
- a ready check answers True (serving), False or raises `NotReady` (not yet: connection
  refused, a timeout, still loading); any other exception is a broken check: it is reported
  with its cause and `wait_ready` fails. A check that never becomes ready is reported with
  the last reason it gave.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from supportbot.core.errors import describe_error


class NotReady(Exception):
    """Raised by a ready check: the process does not serve yet (the message says why)."""


#: exceptions a ready check may raise while the process is still starting
NOT_READY_ERRORS = (NotReady, ConnectionError, TimeoutError)


@dataclass
class ProcessSpec:
    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    # True once the process serves; False or NotReady(reason) while it starts (module doc)
    ready_check: Callable[[], bool] | None = None


@dataclass
class _Child:
    spec: ProcessSpec
    process: subprocess.Popen
    started_at: float
    restarts: list[float] = field(default_factory=list)


class Supervisor:
    def __init__(self, specs: Sequence[ProcessSpec], *, max_restarts: int = 3,
                 restart_window: float = 120.0, grace_period: float = 10.0,
                 out=None):
        self.specs = list(specs)
        self.max_restarts = max_restarts
        self.restart_window = restart_window
        self.grace_period = grace_period
        self.out = out or sys.stdout
        self._children: dict[str, _Child] = {}
        self._stopping = threading.Event()
        self._print_lock = threading.Lock()
        self.exit_code = 0
        #: why the last `wait_ready` failed, per process: "exited", "check failed", "timeout"
        self.not_ready: dict[str, str] = {}

    # --- output -------------------------------------------------------------------------
    def say(self, message: str, name: str = "supervisor") -> None:
        with self._print_lock:
            print(f"[{name}] {message}", file=self.out, flush=True)

    def _pump(self, name: str, stream) -> None:
        for raw in iter(stream.readline, b""):
            self.say(raw.decode("utf-8", "replace").rstrip(), name)
        stream.close()

    # --- lifecycle ----------------------------------------------------------------------
    def _spawn(self, spec: ProcessSpec) -> subprocess.Popen:
        env = {**os.environ, **spec.env}
        process = subprocess.Popen(
            list(spec.argv), cwd=spec.cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=self._pump, args=(spec.name, process.stdout), daemon=True).start()
        self.say(f"started {spec.name} (pid {process.pid}): {' '.join(spec.argv)}")
        return process

    def start(self) -> None:
        for spec in self.specs:
            self._children[spec.name] = _Child(spec, self._spawn(spec), time.monotonic())

    def wait_ready(self, timeout: float = 300.0, poll_interval: float = 0.5) -> bool:
        """Poll the ready checks until all pass (True). False when a process exits first, a
        check raises an unexpected error (reported with its cause) or `timeout` passes (each
        pending process is reported with the last reason its check gave); see `not_ready`."""
        self.not_ready = {}
        deadline = time.monotonic() + timeout
        pending = [c for c in self._children.values() if c.spec.ready_check]
        last_reason: dict[str, str] = {}
        while pending and not self._stopping.is_set():
            for child in list(pending):
                name = child.spec.name
                code = child.process.poll()
                if code is not None:
                    self.say(f"ERROR: {name} exited with code {code} before it was ready")
                    self.not_ready[name] = "exited"
                    return False
                check = child.spec.ready_check
                assert check is not None  # pending holds only processes with a check
                try:
                    ready = check()
                except NOT_READY_ERRORS as exc:
                    last_reason[name] = describe_error(exc)
                    continue
                except Exception as exc:  # noqa: BLE001 - a broken check, never "not ready yet"
                    self.say(f"ERROR: the ready check of {name} failed: {describe_error(exc)}")
                    for line in traceback.format_exception(type(exc), exc, exc.__traceback__):
                        for part in line.rstrip().splitlines():
                            self.say(part, name=f"{name} ready check")
                    self.not_ready[name] = "check failed"
                    return False
                if ready:
                    self.say(f"{name} is ready")
                    pending.remove(child)
                else:
                    last_reason[name] = "the ready check answered not ready"
            if not pending:
                break
            if time.monotonic() >= deadline:
                for child in pending:
                    name = child.spec.name
                    self.say(f"ERROR: {name} is not ready after {timeout:g} s; last check: "
                             f"{last_reason.get(name, 'never ran')}")
                    self.not_ready[name] = "timeout"
                return False
            if self._stopping.wait(poll_interval):
                break
        return not pending

    def stop(self) -> None:
        self._stopping.set()
        for child in self._children.values():
            if child.process.poll() is None:
                self._signal(child.process, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_period
        for child in self._children.values():
            remaining = max(0.1, deadline - time.monotonic())
            try:
                child.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                self.say(f"{child.spec.name} did not stop in time: killing it")
                self._signal(child.process, signal.SIGKILL)
                child.process.wait()
        self.say("all processes stopped")

    @staticmethod
    def _signal(process: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    def _handle_exit(self, child: _Child, code: int) -> bool:
        """A child exited by itself. Restart it, or return False to stop the group."""
        now = time.monotonic()
        self.say(f"ERROR: {child.spec.name} exited unexpectedly with code {code}")
        child.restarts = [t for t in child.restarts if now - t < self.restart_window]
        if len(child.restarts) >= self.max_restarts:
            self.say(f"ERROR: {child.spec.name} crashed {len(child.restarts) + 1} times in "
                     f"{int(self.restart_window)} s: stopping everything")
            return False
        delay = 2 ** len(child.restarts)
        self.say(f"restarting {child.spec.name} in {delay} s")
        if self._stopping.wait(delay):
            return True
        child.restarts.append(now)
        child.process = self._spawn(child.spec)
        child.started_at = time.monotonic()
        return True

    def run_forever(self, poll_interval: float = 0.5) -> int:
        """Supervise until a signal or an unrecoverable crash; returns the exit code."""
        def _on_signal(signum, _frame):
            self.say(f"received {signal.Signals(signum).name}: stopping")
            self._stopping.set()

        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not self._stopping.is_set():
                for child in self._children.values():
                    code = child.process.poll()
                    if code is not None and not self._stopping.is_set():
                        if not self._handle_exit(child, code):
                            self.exit_code = 1
                            self._stopping.set()
                            break
                self._stopping.wait(poll_interval)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self.exit_code
