"""Browser-test plumbing: processes on free ports, a connection-dropping proxy, Chromium."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCREENSHOT_DIR = REPO / "var" / "screenshots"
CHROMIUM = os.environ.get("SUPPORTBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def _shared_conftest():
    """tests/conftest.py loaded under its own name: several conftest.py files share the module
    name `conftest`, so `from conftest import ...` depends on the collection order."""
    name = "_supportbot_tests_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def free_port() -> int:
    return _shared_conftest().free_port()


def skip_or_fail(reason: str) -> None:
    """pytest.skip, or a failure under SUPPORTBOT_REQUIRE_SERVICES=1 (tests/conftest.py)."""
    _shared_conftest().skip_or_fail(reason)


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} not reachable after {timeout}s: {last}")


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def process(args: list[str], ready_url: str, log_path: Path, timeout: float = 60,
            env: dict | None = None) -> Iterator[subprocess.Popen]:
    """Run `args` until the block ends; wait for `ready_url` first. Output goes to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            args, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            try:
                wait_for_http(ready_url, timeout, proc)
            except Exception as exc:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{' '.join(args[:4])}...: {exc}\n--- log tail ---\n{tail}") from exc
            yield proc
        finally:
            _stop(proc)


@contextmanager
def page_server(rasa_url: str, log_dir: Path, port: int | None = None) -> Iterator[str]:
    """`supportbot web` (the real command) on `port` (default: a free one); yields its base URL."""
    port = port or free_port()
    args = [sys.executable, "-m", "supportbot.cli", "web", "--host", "127.0.0.1",
            "--port", str(port), "--rasa-url", rasa_url]
    with process(args, f"http://127.0.0.1:{port}/healthz", log_dir / "web.log", timeout=60):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def echo_rasa(log_dir: Path, cors_origins: list[str]) -> Iterator[str]:
    """The scripted stand-in for Rasa (tests/e2e/browser/echo_rasa.py), allowing browsers from
    `cors_origins` only (SUPPORTBOT_CORS_ORIGINS, as Rasa); yields its URL."""
    port = free_port()
    script = Path(__file__).with_name("echo_rasa.py")
    with process([sys.executable, str(script), "--port", str(port)],
                 f"http://127.0.0.1:{port}/", log_dir / "echo_rasa.log", timeout=120,
                 env={"PYTHONPATH": str(REPO), "SUPPORTBOT_CORS_ORIGINS": ",".join(cors_origins)}):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def other_site(html: str, port: int | None = None) -> Iterator[str]:
    """A one-page site on its own loopback port (another origin; default: a free port),
    serving `html` at `/`."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = html.encode("utf-8")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server API)
            if self.path != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class DroppingProxy:
    """A TCP proxy in a background thread whose connections a test can cut, to simulate a
    network drop between the browser and Rasa (`drop()`), optionally refusing new connections
    for a while (`drop(down_for=3)`)."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.connections_total = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._down_until = 0.0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DroppingProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def drop(self, down_for: float = 0.0) -> int:
        """Close every open connection; refuse new ones for `down_for` seconds."""
        self._down_until = time.monotonic() + down_for
        fut = asyncio.run_coroutine_threadsafe(self._drop_all(), self._loop)
        return fut.result(10)

    async def _drop_all(self) -> int:
        writers = list(self._writers)
        for w in writers:
            w.transport.abort()
        self._writers.clear()
        return len(writers)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._down_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections_total += 1
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


def chromium_missing_reason() -> str | None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return f"Chromium not found at {CHROMIUM} (run scripts/ensure_browser.sh)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


class ConsoleWatch:
    """Collects a page's console errors, page errors and CSP violations."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))

    def _console(self, msg) -> None:
        if msg.type in ("error", "warning") and (
            msg.type == "error" or "Content Security Policy" in msg.text
        ):
            self.errors.append(f"{msg.type}: {msg.text}")

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e]


def screenshot(page, name: str) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
