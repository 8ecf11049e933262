"""`supportbot review report` through the real console command."""
from __future__ import annotations

import json

from supportbot.cli import main
from tests.unit.analytics.scenarios import seed


def test_report_json_and_markdown(core, engine, tmp_path, capsys):
    seeded = seed(core, engine)
    url = engine.url.render_as_string(hide_password=False)
    day = seeded.first("refund").date()
    common = ["review", "report", "--url", url, "--from", day.isoformat(),
              "--to", day.isoformat(), "--as-of", seeded.as_of.isoformat(), "--base-url", ""]
    assert main([*common, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["conversations"]["count"] == 7  # erin's email came the next day
    assert data["scope"]["started_from"] == day.isoformat()
    # without the re-contact (outside the scope) the widget chat is still not resolved: the
    # definition looks at every conversation of the buyer, not only those in the scope
    assert (data["rates"]["resolved"]["count"], data["rates"]["resolved"]["denominator"]) == (1, 7)
    assert data["rates"]["resolved"]["link"].startswith("/conversations?started_from=")

    out = tmp_path / "week"
    assert main([*common, "--format", "md", "--out", str(out), "--channel", "widget"]) == 0
    assert "2 charts" in capsys.readouterr().err
    md = (out / "report.md").read_text()
    assert "**Conversations: [4](" in md
    assert (out / "conversations-per-day.png").read_bytes()[:4] == b"\x89PNG"

    assert main([*common, "--format", "json", "--channel", "fax"]) == 1
    assert "channel: one of" in capsys.readouterr().err
