"""`supportbot users`: the password comes from stdin or a prompt, never from argv."""
from __future__ import annotations

import io

import pytest

from supportbot.cli import main
from supportbot.console.accounts.service import Accounts, LoginStatus
from supportbot.console.cli import DEV_LEAD_EMAIL, ensure_first_user


@pytest.fixture
def url(engine):
    return str(engine.url)


def test_users_add_list_disable(url, engine, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-secret-pass\n"))
    assert main(["users", "--url", url, "add", "Rev@Example.com", "--role", "reviewer",
                 "--password-stdin"]) == 0
    assert Accounts(engine).login("rev@example.com", "a-long-secret-pass", "x").status is LoginStatus.ok
    assert main(["users", "--url", url, "list"]) == 0
    out = capsys.readouterr().out
    assert "rev@example.com" in out and "reviewer" in out and "a-long-secret-pass" not in out
    assert main(["users", "--url", url, "disable", "rev@example.com"]) == 0
    assert Accounts(engine).login("rev@example.com", "a-long-secret-pass", "x").status is LoginStatus.invalid


def test_there_is_no_password_argument(url, capsys):
    with pytest.raises(SystemExit):
        main(["users", "--url", url, "add", "a@example.com", "--role", "lead",
              "--password", "on-the-command-line"])
    assert "unrecognized arguments" in capsys.readouterr().err


def test_prompted_passwords_must_match(url, monkeypatch, capsys):
    answers = iter(["first-password-1", "second-password-2"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert main(["users", "--url", url, "add", "a@example.com", "--role", "lead"]) == 1
    assert "differ" in capsys.readouterr().err


def test_a_weak_password_is_refused_with_a_clear_error(url, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "--url", url, "add", "a@example.com", "--role", "lead",
                 "--password-stdin"]) == 1
    assert "at least 12" in capsys.readouterr().err


def test_first_start_prints_how_to_add_a_user_or_creates_the_development_lead(engine):
    acc = Accounts(engine)
    out = io.StringIO()
    assert ensure_first_user(acc, dev_lead=False, out=out) is None
    assert "supportbot users add EMAIL --role lead|reviewer" in out.getvalue()
    assert acc.count_users() == 0
    out = io.StringIO()
    password = ensure_first_user(acc, dev_lead=True, out=out)
    assert "DEVELOPMENT ONLY" in out.getvalue() and password in out.getvalue()
    assert acc.login(DEV_LEAD_EMAIL, password, "x").status is LoginStatus.ok
    assert ensure_first_user(acc, dev_lead=True, out=io.StringIO()) is None  # never a second one
