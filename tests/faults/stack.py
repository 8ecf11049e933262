"""A real stack whose parts can be broken one at a time: the Rasa server (trained model, our
channels and tracker store) and our action server (supportbot/runtime/action_server.py, with
its secret) as separate processes on free ports, over a fresh demo database - SQLite, or a
PostgreSQL database with a role of its own, so that a test can take the database away
(`outage()`: the role may no longer log in and its connections are cut) and give it back.

Used by the fault tests (tests/faults/), the conversation fuzzer
(tests/security/test_fuzz_conversations.py) and the soak benchmark (benchmarks/soak_bench.py).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from supportbot.settings import PROJECT_ROOT

MODEL = PROJECT_ROOT / "models" / "supportbot.tar.gz"
TRACKER_STORE = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text())["tracker_store"]["type"]
BIN = Path(sys.executable).parent
POSTGRES_ADMIN_URL = os.environ.get(
    "SUPPORTBOT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
BASE_ENV = {
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "RASA_TELEMETRY_ENABLED": "false",
}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code < 500
    except requests.RequestException:
        return False


def rss_kib(pid: int | None) -> int | None:
    """Resident memory of a process and its descendants (KiB), from /proc."""
    if pid is None:
        return None
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                todo.extend(int(c) for c in children)
        except (OSError, ValueError):
            continue
    return total


class _Process:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path,
                 ready_url: str):
        self.name, self.argv, self.env, self.log_path, self.ready_url = name, argv, env, log_path, ready_url
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(self.argv, cwd=PROJECT_ROOT, env={**os.environ, **self.env},
                                      stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                break
            if _url_ok(self.ready_url):
                return
            time.sleep(0.5)
        tail = self.log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{self.name} did not become ready:\n{tail}")

    def kill(self) -> None:
        """SIGKILL, the whole process group: a crash, not a shutdown."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None and self.popen.poll() is None else None


@dataclass
class Stack:
    work: Path
    database_url: str
    rasa_url: str
    action_url: str
    rest_token: str
    api_token: str
    outbox_dir: Path
    env: dict[str, str]
    rasa: _Process
    actions: _Process
    postgres_role: str | None = None
    postgres_db: str | None = None
    statuses: list[int] = field(default_factory=list)

    # --- talking --------------------------------------------------------------------------
    def post(self, sender: str, text: Any, timeout: float = 120,
             metadata: dict[str, Any] | None = None) -> requests.Response:
        """One turn as an internal caller sends it (the token; `metadata` may name the
        customer's `client_address`, as the email bridge does)."""
        body: dict[str, Any] = {"sender": sender, "message": text}
        if metadata is not None:
            body["metadata"] = metadata
        response = requests.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body,
                                 headers={"Authorization": f"Bearer {self.rest_token}"},
                                 timeout=timeout)
        self.statuses.append(response.status_code)
        return response

    def say(self, sender: str, text: str, timeout: float = 120) -> list[dict[str, Any]]:
        response = self.post(sender, text, timeout)
        assert response.status_code == 200, (response.status_code, response.text[:500])
        return list(response.json())

    def texts(self, sender: str, text: str) -> str:
        return "\n".join(m.get("text", "") or "" for m in self.say(sender, text))

    @staticmethod
    def new_sender(prefix: str = "fault") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def latest_code(self, address: str, timeout: float = 10.0) -> str:
        from tests.conftest import latest_code

        return latest_code(self.outbox_dir, address, timeout)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        from tests.conftest import db_rows

        return list(db_rows(self.database_url, sql, **params))

    # --- breaking -------------------------------------------------------------------------
    def restart_actions(self, timeout: float = 120) -> None:
        self.actions.kill()
        self.actions.start()
        self.actions.wait_ready(timeout)

    def ensure_running(self, timeout: float = 120) -> None:
        """Start again whatever an earlier (failed) test left dead."""
        for process in (self.actions, self.rasa):
            if process.pid is None:
                process.start()
                process.wait_ready(timeout)

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The database is gone: its role may not log in, every open connection is cut."""
        assert self.postgres_role, "outage() needs a PostgreSQL stack"
        _admin(f'ALTER ROLE "{self.postgres_role}" NOLOGIN')
        _admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r",
               r=self.postgres_role)
        try:
            yield
        finally:
            _admin(f'ALTER ROLE "{self.postgres_role}" LOGIN')

    def stop(self) -> None:
        for process in (self.rasa, self.actions):
            process.stop()
        if self.postgres_role:
            with contextlib.suppress(Exception):
                _admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r",
                       r=self.postgres_role)
                _admin(f'DROP DATABASE IF EXISTS "{self.postgres_db}"')
                _admin(f'DROP ROLE IF EXISTS "{self.postgres_role}"')


def _admin(sql: str, **params: Any) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


def postgres_available() -> bool:
    try:
        _admin("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - server down or driver missing
        return False


def start_stack(work: Path, *, database: str = "sqlite", extra_env: dict[str, str] | None = None,
                timeout: float = 300) -> Stack:
    """Migrate + demo data, then the action server and Rasa; raises with the log tail if a
    process does not become ready."""
    if not MODEL.exists():
        raise RuntimeError(f"no trained model at {MODEL}: run `make train`")
    work.mkdir(parents=True, exist_ok=True)
    # another store class only to show how Rasa's own behaves (the `before` of a fix)
    store_type = os.environ.get("SUPPORTBOT_FAULTS_TRACKER_STORE") or TRACKER_STORE
    role = db_name = None
    if database == "postgres":
        role = db_name = f"sb_fault_{uuid.uuid4().hex[:10]}"
        _admin(f'CREATE ROLE "{role}" LOGIN')
        _admin(f'CREATE DATABASE "{db_name}" OWNER "{role}"')
        from sqlalchemy.engine import make_url

        admin = make_url(POSTGRES_ADMIN_URL)
        host, port = admin.host or "127.0.0.1", admin.port or 5432
        database_url = f"postgresql+psycopg2://{role}@{host}:{port}/{db_name}"
        tracker_store = {"type": store_type, "dialect": "postgresql", "url": host,  # Rasa passes `url` as host
                         "port": port, "db": db_name, "username": role}
    else:
        db_file = work / "supportbot.db"
        database_url = f"sqlite:///{db_file}"
        tracker_store = {"type": store_type, "dialect": "sqlite", "db": str(db_file)}
    rasa_port, action_port = free_port(), free_port()
    rest_token, api_token = uuid.uuid4().hex, uuid.uuid4().hex
    action_token = uuid.uuid4().hex + uuid.uuid4().hex
    env = {
        **BASE_ENV,
        "SUPPORTBOT_DATABASE_URL": database_url,
        "SUPPORTBOT_VAR_DIR": str(work),
        "SUPPORTBOT_OUTBOX_DIR": str(work / "outbox"),
        "SUPPORTBOT_RASA_PORT": str(rasa_port),
        "SUPPORTBOT_ACTION_PORT": str(action_port),
        "SUPPORTBOT_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        "SUPPORTBOT_REST_TOKEN": rest_token,
        **(extra_env or {}),
    }
    for argv in ([str(BIN / "supportbot"), "db", "upgrade"], [str(BIN / "supportbot"), "db", "demo"]):
        subprocess.run(argv, check=True, env={**os.environ, **env}, cwd=PROJECT_ROOT,
                       capture_output=True)
    endpoints = work / "endpoints.yml"
    endpoints.write_text(json.dumps({
        "action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook",
                            "headers": {"Authorization": f"Bearer {action_token}"}},
        "tracker_store": tracker_store,
    }))
    credentials = work / "credentials.yml"
    credentials.write_text((PROJECT_ROOT / "credentials.yml").read_text())
    actions = _Process("actions", [sys.executable, "-m", "supportbot.runtime.action_server",
                                   "--port", str(action_port)],
                       {**env, "SUPPORTBOT_ACTION_TOKEN": action_token}, work / "actions.log",
                       f"http://127.0.0.1:{action_port}/health")
    rasa = _Process("rasa", [str(BIN / "rasa"), "run", "--model", str(MODEL), "--endpoints",
                             str(endpoints), "--credentials", str(credentials), "-i", "127.0.0.1",
                             "--port", str(rasa_port), "--enable-api", "--auth-token", api_token],
                    env, work / "rasa.log", f"http://127.0.0.1:{rasa_port}/status?token={api_token}")
    stack = Stack(work=work, database_url=database_url, rasa_url=f"http://127.0.0.1:{rasa_port}",
                  action_url=f"http://127.0.0.1:{action_port}", rest_token=rest_token,
                  api_token=api_token, outbox_dir=work / "outbox", env=env, rasa=rasa,
                  actions=actions, postgres_role=role, postgres_db=db_name)
    try:
        actions.start()
        rasa.start()
        actions.wait_ready(timeout)
        rasa.wait_ready(timeout)
    except BaseException:
        stack.stop()
        raise
    return stack
