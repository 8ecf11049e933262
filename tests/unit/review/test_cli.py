"""`supportbot review reindex|export|erase` through the real console command."""
from __future__ import annotations

import csv
import io

from sqlalchemy import text

from supportbot.cli import main
from tests.unit.review import conversations as conv
from tests.unit.review.helpers import audit_entries


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_reindex_export_erase(engine, core, tmp_path, capsys):
    conv.refund_issued(core, engine, "cli-refund")
    conv.fallback_chat(engine, "cli-chat", core.clock)
    url = _url(engine)
    assert main(["review", "reindex", "--url", url]) == 0
    assert "of 2 conversations" in capsys.readouterr().out
    assert main(["review", "reindex", "--url", url]) == 0
    assert "indexed 0 events" in capsys.readouterr().out

    out = tmp_path / "issued.csv"
    assert main(["review", "export", "--url", url, "--format", "csv", "--refund", "issued",
                 "--out", str(out), "--actor", "lead@example.com"]) == 0
    assert "exported 1 conversations" in capsys.readouterr().err
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["conversation_id"] for r in rows] == ["cli-refund"]
    entry = audit_entries(engine)[-1]
    assert entry["details"]["filter"] == {"refund": "issued"} and entry["details"]["user"] == "lead@example.com"

    assert main(["review", "export", "--url", url, "--format", "stories", "--conversation", "cli-refund"]) == 0
    captured = capsys.readouterr()
    assert "story: review cli-refund" in captured.out and "exported 1 stories" in captured.err

    assert main(["review", "export", "--url", url, "--format", "csv", "--channel", "fax"]) == 1
    assert "channel: one of" in capsys.readouterr().err

    assert main(["review", "erase", "cli-chat", "--url", url]) == 2  # needs --yes
    assert "--yes" in capsys.readouterr().err
    assert main(["review", "erase", "cli-chat", "--url", url, "--yes"]) == 0
    assert "erased cli-chat" in capsys.readouterr().out
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events WHERE sender_id = 'cli-chat'")).scalar_one() == 0
    assert audit_entries(engine)[-1]["details"]["user"].startswith("cli:")


def test_a_database_without_the_review_tables_gets_one_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'bare.db'}"
    assert main(["review", "reindex", "--url", url]) == 2
    err = capsys.readouterr().err
    assert "supportbot db upgrade" in err and "Traceback" not in err
