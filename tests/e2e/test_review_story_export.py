"""End to end: a refund that went right, through the real Rasa server and action server, is
indexed from the tracker store, exported with `supportbot review export --format stories`, and
the exported story passes `rasa test core` against the trained model."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from supportbot.db.engine import make_engine
from supportbot.review.indexer import Indexer
from supportbot.review.queries import conversation, transcript
from supportbot.settings import PROJECT_ROOT
from tests.conftest import latest_code
from tests.e2e.conftest import MODEL

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def test_an_exported_story_of_a_conversation_that_went_right_passes_rasa_test(bot_stack, tmp_path):
    if not MODEL.exists():
        pytest.skip(f"no trained model at {MODEL} (make train)")
    sender = bot_stack.new_sender("review-story")
    bot_stack.say(sender, "hi")
    bot_stack.say(sender, "I would like a refund for my purchase")
    bot_stack.say(sender, "quinn@example.com")
    found = bot_stack.texts(sender, "100000018")
    assert "100000018" in found
    bot_stack.say(sender, '/inform{"refund_reason": "no_longer_needed"}')
    confirm = bot_stack.texts(sender, latest_code(bot_stack.outbox_dir, "quinn@example.com"))
    assert "129.00 USD" in confirm
    done = bot_stack.texts(sender, "yes please")
    assert "refund" in done.lower()

    engine = make_engine(bot_stack.database_url)
    try:
        Indexer(engine).run_once()
        from supportbot.db.engine import session_scope

        with session_scope(engine) as session:
            row = conversation(session, sender)
            shown = transcript(session, sender)
        assert (row.refund_outcome, row.refund_amount_minor, row.refund_currency) == ("issued", 12900, "USD")
        assert any(e.kind == "refund_issued" for t in shown.turns for e in t.side_effects)
    finally:
        engine.dispose()

    story_file = tmp_path / "exported_story.yml"
    exported = subprocess.run([str(BIN / "supportbot"), "review", "export", "--format", "stories",
                               "--conversation", sender, "--out", str(story_file), "--url",
                               bot_stack.database_url, "--actor", "lead@example.com"],
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    text = story_file.read_text()
    assert "quinn" not in text and "100000018" not in text  # scrubbed
    [story] = yaml.safe_load(text)["stories"]
    assert {"action": "action_perform_task"} in story["steps"]

    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("action_endpoint:\n  url: http://127.0.0.1:9/webhook\n")
    result = subprocess.run([str(BIN / "rasa"), "test", "core", "--stories", str(story_file), "--model",
                             str(MODEL), "--endpoints", str(endpoints), "--fail-on-prediction-errors",
                             "--out", str(tmp_path / "results")], capture_output=True, text=True,
                            cwd=PROJECT_ROOT, timeout=900,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RASA_TELEMETRY_ENABLED": "false",
                                 "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"})
    assert result.returncode == 0, (text + result.stdout[-4000:] + result.stderr[-4000:])
    failed = tmp_path / "results" / "failed_test_stories.yml"
    assert not failed.exists() or "stories" not in (yaml.safe_load(failed.read_text()) or {})
