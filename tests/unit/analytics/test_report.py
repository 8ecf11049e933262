"""The report as JSON / Markdown / PNG, and the service's model comparison."""
from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlsplit

from supportbot.analytics import report as rendering
from supportbot.analytics.filters import OutcomeFilter
from supportbot.analytics.service import AnalyticsService
from tests.unit.analytics.scenarios import MODEL_B, seed
from tests.unit.review.conversations import MODEL_ID


def test_json_markdown_and_charts(core, engine, tmp_path):
    seeded = seed(core, engine)
    service = AnalyticsService(engine, clock=core.clock)
    r = service.report(as_of=seeded.as_of)
    data = json.loads(json.dumps(rendering.to_dict(r, base_url="http://127.0.0.1:8090")))
    assert data["conversations"]["count"] == 8
    resolved = data["rates"]["resolved"]
    assert (resolved["count"], resolved["denominator"]) == (2, 8)
    assert 0 < resolved["low"] < 0.25 < resolved["high"] < 1
    # the link is the filter: following it gives the same conversations
    url = urlsplit(resolved["link"])
    assert url.path == rendering.LIST_PATH
    flt = OutcomeFilter.from_params(dict(parse_qsl(url.query)))
    assert service.conversation_ids(flt) == ["conv-mia", "email-conv-erin"]
    assert data["refunds_issued"] == [{"currency": "EUR", "count": 1, "amount_minor": 4900,
                                       "link": data["refunds_issued"][0]["link"]}]
    assert data["definitions"]["abandoned"].startswith("the bot asked something")

    charts = rendering.draw_charts(r, tmp_path)
    for path in charts.values():
        blob = path.read_bytes()
        assert blob[:8] == b"\x89PNG\r\n\x1a\n" and len(blob) > 5000
    md = rendering.to_markdown(r, charts=charts)
    assert "| Resolved | [25.0% (2/8; 95 % " in md
    assert "the bot asked something and no reply came within 30 minutes" in md
    assert "| issued | EUR | [1](" in md and "49.00 EUR" in md
    assert "![per_day](conversations-per-day.png)" in md


def test_model_comparison(core, engine):
    seeded = seed(core, engine)
    a, b = AnalyticsService(engine).compare_models(MODEL_ID, MODEL_B, as_of=seeded.as_of)
    assert (a.conversations.count, b.conversations.count) == (6, 2)
    assert (a.rates["resolved"].count, b.rates["resolved"].count) == (0, 2)
    assert dict(b.rates["resolved"].filter.to_params())["model_id"] == MODEL_B
