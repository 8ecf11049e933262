"""A migrated SQLite database and the console app behind aiohttp's test client, driven from
plain (synchronous) tests through one event loop per test."""
from __future__ import annotations

import asyncio
import re
import shutil

import pytest
from aiohttp.test_utils import TestClient, TestServer

from supportbot.console.accounts.service import Accounts
from supportbot.console.web.app import create_app
from supportbot.db import migrate
from supportbot.db.engine import make_engine

LEAD = ("lead@example.com", "lead-password-123")
REVIEWER = ("reviewer@example.com", "reviewer-password-123")
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def real_argon2():
    """Use the production argon2 parameters (see fast_argon2)."""


@pytest.fixture(autouse=True)
def fast_argon2(request, monkeypatch):
    """Real argon2id with small parameters: the throttle tests verify dozens of passwords on a
    shared 2-core machine. A test that asks for `real_argon2` keeps the production ones."""
    if "real_argon2" in request.fixturenames:
        return
    from argon2 import PasswordHasher

    from supportbot.console.accounts import service

    monkeypatch.setattr(service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    service._dummy_hash.cache_clear()
    request.addfinalizer(service._dummy_hash.cache_clear)


@pytest.fixture(scope="session")
def _migrated_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("console-db") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def engine(tmp_path, _migrated_template):
    path = tmp_path / "console.db"
    shutil.copyfile(_migrated_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


@pytest.fixture
def accounts(engine):
    acc = Accounts(engine)
    acc.add_user(LEAD[0], "lead", LEAD[1])
    acc.add_user(REVIEWER[0], "reviewer", REVIEWER[1])
    return acc


class Response:
    def __init__(self, status: int, headers, text: str, url: str):
        self.status, self.headers, self.text, self.url = status, headers, text, url

    def json(self):
        import json

        return json.loads(self.text)

    def csrf(self) -> str:
        match = CSRF_FIELD.search(self.text)
        assert match, "no CSRF field in the page"
        return match.group(1)


class ConsoleClient:
    """Synchronous calls into the app over a real socket (aiohttp TestServer)."""

    def __init__(self, app, loop: asyncio.AbstractEventLoop):
        self.loop = loop

        async def start() -> TestClient:
            client = TestClient(TestServer(app))
            await client.start_server()
            return client

        self.client = loop.run_until_complete(start())

    def request(self, method: str, path: str, **kwargs) -> Response:
        kwargs.setdefault("allow_redirects", False)

        async def call():
            async with self.client.request(method, path, **kwargs) as resp:
                return Response(resp.status, resp.headers, await resp.text(), str(resp.url))

        return self.loop.run_until_complete(call())

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Response:
        return self.request("POST", path, **kwargs)

    def login(self, email: str, password: str) -> Response:
        page = self.get("/login")
        return self.post("/login", data={"email": email, "password": password,
                                         "csrf_token": page.csrf(), "next": "/"})

    def csrf(self, path: str = "/users") -> str:
        return self.get(path).csrf()

    def cookie(self, name: str):
        for cookie in self.client.session.cookie_jar:
            if cookie.key == name:
                return cookie
        return None

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())


@pytest.fixture
def make_client(engine, accounts):
    loop = asyncio.new_event_loop()
    clients = []

    def make(**app_kwargs) -> ConsoleClient:
        app_kwargs.setdefault("accounts", accounts)
        client = ConsoleClient(create_app(engine, **app_kwargs), loop)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    loop.close()


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def lead(client):
    assert client.login(*LEAD).status == 303
    return client


@pytest.fixture
def reviewer(client):
    assert client.login(*REVIEWER).status == 303
    return client
