"""The `supportbot` dispatcher: a command group that does not import is reported (never dropped),
operational errors are one-line messages with exit code 2 in every group, and only the chosen
command's module is imported."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supportbot import cli

ROOT = Path(__file__).resolve().parents[3]
UNREACHABLE_DB = "postgresql+psycopg2://nobody:s3cret@127.0.0.1:1/nothing"  # port 1: refused


def run_cli(*args: str, env: dict | None = None, code: str | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "supportbot.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
                               "SQLALCHEMY_SILENCE_UBER_WARNING": "1", **(env or {})})


# --- a command group whose module fails to import ---------------------------------------------
@pytest.fixture
def broken_commands(tmp_path, monkeypatch):
    """Two extra command groups: one whose module is missing, one with a missing dependency."""
    package = tmp_path / "brokenarea"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("import not_installed_dependency_xyz\n\n"
                                    "def register(subparsers):\n    subparsers.add_parser('deps')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "deps", "brokenarea.cli")
    monkeypatch.setitem(cli.COMMANDS, "ghost", "supportbot.ghost.cli")  # the module itself is missing


@pytest.mark.parametrize("command, module, missing", [
    ("ghost", "supportbot.ghost.cli", "supportbot.ghost"),
    ("deps", "brokenarea.cli", "not_installed_dependency_xyz"),
])
def test_a_command_whose_module_does_not_import_reports_the_error(
        broken_commands, capsys, command, module, missing):
    assert cli.main([command, "some", "--args"]) == 1
    err = capsys.readouterr().err
    assert f"the `{command}` commands are unavailable: importing {module} failed" in err
    assert f"ModuleNotFoundError: No module named '{missing}'" in err
    assert "Traceback" in err  # where the import failed


def test_help_lists_a_broken_group_as_unavailable_and_warns(broken_commands, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    out = " ".join(out.split())  # argparse wraps the help lines
    assert "unavailable: ModuleNotFoundError: No module named 'not_installed_dependency_xyz'" in out
    assert "warning: the `ghost` commands are unavailable" in err
    assert "faq" in out and "refund" in out  # the working groups are still there


def test_the_other_groups_still_work_when_one_is_broken(broken_commands, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["faq", "--help"])
    assert exit_info.value.code == 0
    assert "reindex" in capsys.readouterr().out


def test_an_error_raised_inside_a_command_module_is_not_swallowed(tmp_path, monkeypatch, capsys):
    package = tmp_path / "typoarea"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "cli.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "typo", "typoarea.cli")
    assert cli.main(["typo"]) == 1
    assert "RuntimeError: boom at import" in capsys.readouterr().err


# --- operational errors: one line on stderr, exit code 2, whatever the group ----------------------
def test_refund_check_on_a_database_without_tables_says_to_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run_cli("refund", "check", "--order", "100000001", "--email", "alice@example.com",
                     env={"SUPPORTBOT_DATABASE_URL": url})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("supportbot: error: ") and "is missing tables (no such table: orders)" in lines[0]
    assert "run `supportbot db upgrade`" in lines[0]


@pytest.mark.parametrize("args", [
    ["refund", "check", "--order", "100000001", "--email", "alice@example.com", "--url", UNREACHABLE_DB],
    ["db", "upgrade", "--url", UNREACHABLE_DB],
    ["db", "current", "--url", UNREACHABLE_DB],
])
def test_an_unreachable_database_is_a_message_in_every_group(args, capsys):
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("supportbot: error: cannot use the database")
    assert "Connection refused" in err or "could not connect" in err.lower()
    assert "s3cret" not in err  # the password is masked


def test_any_command_raising_a_missing_table_error_gets_the_message(monkeypatch, capsys, tmp_path):
    """The translation lives in main(), not in each command: a handler of any group that hits
    a missing table (here a stand-in for one) gets the same message."""
    from sqlalchemy import text

    from supportbot.db.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")

    def handler(_args):
        with engine.connect() as connection:
            connection.execute(text("SELECT * FROM email_inbound"))

    import supportbot.knowledge.cli as faq_cli

    monkeypatch.setattr(faq_cli, "_list", handler)
    assert cli.main(["faq", "list"]) == 2
    err = capsys.readouterr().err
    assert "no such table: email_inbound" in err and "supportbot db upgrade" in err
    engine.dispose()


def test_unexpected_errors_still_raise(monkeypatch):
    import supportbot.knowledge.cli as faq_cli

    def handler(_args):
        raise KeyError("a bug")

    monkeypatch.setattr(faq_cli, "_list", handler)
    with pytest.raises(KeyError):
        cli.main(["faq", "list"])


# --- lazy imports -----------------------------------------------------------------------------
HEAVY = ("tensorflow", "rasa", "rasa_sdk", "sqlalchemy", "spacy", "requests", "sanic", "aiosmtpd")


def _imported_after(argv: list[str], var_dir: Path) -> set[str]:
    code = ("import sys\nfrom supportbot.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r}))")
    result = run_cli(*argv, code=code, env={"SUPPORTBOT_VAR_DIR": str(var_dir)})
    line = [out for out in result.stdout.splitlines() if out.startswith("LOADED")][-1]
    return set(eval(line[len("LOADED "):]))  # our own output


def test_the_dispatcher_imports_nothing_heavy_for_help(tmp_path):
    assert _imported_after(["--help"], tmp_path) == set()


def test_faq_ask_loads_spacy_but_not_tensorflow_rasa_or_the_database(tmp_path):
    loaded = _imported_after(["faq", "ask", "how do I add a staff account"], tmp_path)
    assert loaded == {"spacy"}
