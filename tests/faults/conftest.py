"""One real stack for the fault tests, on PostgreSQL (so that the database can be taken away),
with the payment provider replaced at its boundary by a local HTTP double that holds each
refund call until the test lets it go (so that a process can be killed in the middle of one)."""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import skip_or_fail
from tests.faults.stack import free_port, postgres_available, start_stack

pytestmark = pytest.mark.e2e


class HoldingProvider:
    """`POST /refunds` as HttpPaymentProvider calls it; records every call, answers only when
    `release` is set (or after `hold_seconds`)."""

    def __init__(self, hold_seconds: float = 60.0):
        self.calls: list[dict] = []
        self.called = threading.Event()
        self.release = threading.Event()
        self.hold_seconds = hold_seconds
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                provider.calls.append({"key": self.headers.get("Idempotency-Key"), **body})
                provider.called.set()
                provider.release.wait(provider.hold_seconds)
                answer = json.dumps({"id": f"re_{len(provider.calls)}", "status": "succeeded"}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the caller is gone (killed)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture(scope="module")
def provider():
    double = HoldingProvider()
    yield double
    double.close()


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory, provider):
    if not postgres_available():
        skip_or_fail("PostgreSQL not reachable: the fault tests take a PostgreSQL database away")
    extra = {"SUPPORTBOT_PAYMENT_PROVIDER": "http", "SUPPORTBOT_PAYMENT_API_URL": provider.url}
    if os.environ.get("SUPPORTBOT_FAULTS_TRACKER_STORE"):  # to run the tests against another store
        extra["SUPPORTBOT_FAULTS_TRACKER_STORE"] = os.environ["SUPPORTBOT_FAULTS_TRACKER_STORE"]
    stack = start_stack(tmp_path_factory.mktemp("faults"), database="postgres", extra_env=extra)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(autouse=True)
def _running(request):
    if "fault_stack" in request.fixturenames:
        request.getfixturevalue("fault_stack").ensure_running()
