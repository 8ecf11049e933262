"""Exports: CSV (one row a conversation), JSONL (events), NLU YAML (scrubbed, deduplicated
against data/, accepted by `rasa data validate`), test stories (the shape of tests/test_*.yml);
every export audited with its filter."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from supportbot.review.errors import InvalidInput
from supportbot.review.indexer import Indexer
from supportbot.review.queries import ConversationFilter
from supportbot.review.service import ReviewService
from supportbot.settings import PROJECT_ROOT
from tests.unit.review import conversations as conv
from tests.unit.review.helpers import audit_entries

LEAD = "lead@example.com"
RASA = Path(sys.executable).parent / "rasa"


@pytest.fixture
def indexed(engine, core):
    conv.refund_issued(core, engine, "x-refund")
    conv.refund_declined(core, engine, "x-declined")
    conv.fallback_chat(engine, "x-fallback", core.clock)
    conv.card_number_chat(engine, "x-card", core.clock)
    formula = conv.Conversation("x-formula", core.clock)
    formula.user('=HYPERLINK("http://evil.example","click")', "out_of_scope", 0.4)
    formula.listen()
    formula.save(engine)
    Indexer(engine).run_once()
    return engine


def _export(engine, fmt, flt=None, ids=None) -> str:
    out = io.StringIO()
    ReviewService(engine).export(fmt, flt or ConversationFilter(), out, LEAD, conversation_ids=ids)
    return out.getvalue()


def test_csv_one_row_a_conversation_masked_and_formula_safe(indexed):
    text = _export(indexed, "csv", ConversationFilter(sort="conversation_id", descending=False))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["conversation_id"] for r in rows] == ["x-card", "x-declined", "x-fallback", "x-formula",
                                                    "x-refund"]
    refund = rows[-1]
    assert (refund["refund_outcome"], refund["refund_amount_minor"], refund["refund_currency"]) == (
        "issued", "4900", "EUR")
    assert refund["tags"] == "refund-issued" and refund["intents"] == "greet;request_refund;inform;affirm"
    assert rows[3]["first_message"].startswith("'=HYPERLINK")  # never a live formula
    assert "carol.customer@example.com" not in text
    only = list(csv.DictReader(io.StringIO(_export(indexed, "csv", ConversationFilter(refund="declined")))))
    assert [r["conversation_id"] for r in only] == ["x-declined"]
    entry = audit_entries(indexed)[-1]
    assert entry["action"] == "review.export" and entry["details"]["format"] == "csv"
    assert entry["details"]["filter"] == {"refund": "declined"} and entry["details"]["conversations"] == 1


def test_jsonl_has_every_event_masked(indexed):
    text = _export(indexed, "jsonl", ids=["x-refund", "x-card"])
    lines = [json.loads(line) for line in text.splitlines()]
    with indexed.connect() as conn:
        from sqlalchemy import text as sql

        stored = conn.execute(sql("SELECT count(*) FROM events WHERE sender_id IN ('x-refund', 'x-card')")
                              ).scalar_one()
    assert len(lines) == stored
    assert {line["conversation_id"] for line in lines} == {"x-refund", "x-card"}
    ids = [line["event_id"] for line in lines if line["conversation_id"] == "x-refund"]
    assert ids == sorted(ids)
    assert "alice@example.com" not in text and "a***e@example.com" in text
    assert "111111" not in text  # the one-time code the customer typed
    assert audit_entries(indexed)[-1]["details"]["chosen"] is True


def test_unknown_format_is_refused(indexed):
    with pytest.raises(InvalidInput):
        _export(indexed, "xlsx")


def _correct(engine, cid, intent, pick):
    service = ReviewService(engine)
    turn = next(t for t in service.transcript(cid).turns if t.text and pick(t))
    service.correct_intent(cid, turn.event_id, intent, LEAD)


def test_nlu_export_is_scrubbed_deduplicated_and_valid(indexed, core, tmp_path):
    known = "I want to change my payment method"  # in data/nlu/billing.yml
    c = conv.Conversation("x-nlu", core.clock)
    c.user(known, "faq", 0.5)
    c.user("Hi, my name is Judy Smith, order 100000011 still not refunded, write to judy@example.com",
           "faq", 0.45)
    c.user("blorp the zizzle frobnicator", "nlu_fallback", 0.2)  # the same text as in x-fallback
    c.save(indexed)
    Indexer(indexed).run_once()
    _correct(indexed, "x-nlu", "change_payment_method", lambda t: t.text == known)
    _correct(indexed, "x-nlu", "refund_status", lambda t: "Judy" in t.text)
    _correct(indexed, "x-nlu", "out_of_scope", lambda t: "blorp" in t.text)
    _correct(indexed, "x-fallback", "out_of_scope", lambda t: "blorp" in t.text)
    _correct(indexed, "x-card", "duplicate_charge", lambda t: True)
    text = _export(indexed, "nlu")
    data = yaml.safe_load(text)
    examples = {item["intent"]: [line[2:] for line in item["examples"].splitlines()] for item in data["nlu"]}
    assert known not in str(examples)  # already in data/
    assert examples["out_of_scope"] == ["blorp the zizzle frobnicator"]  # once
    [judy] = examples["refund_status"]
    assert "Judy" not in judy and "Smith" not in judy and "100000011" not in judy
    assert "judy@example.com" not in judy and "@example.com" in judy
    assert judy == ("Hi, my name is Alex Example, order 123456789 still not refunded, write to "
                    "alex@example.com")
    [card] = examples["duplicate_charge"]
    assert conv.LUHN_CARD not in card and "carol" not in card
    assert "1 already there, 1 duplicates" in text
    if indexed.dialect.name != "sqlite":
        return  # the same text on both databases; Rasa's check (~30 s) runs once
    # Rasa accepts it next to the project's data, warnings counting as failures (an unknown
    # intent or an example labelled with two intents would fail here)
    path = tmp_path / "exported_nlu.yml"
    path.write_text(text)
    result = subprocess.run([str(RASA), "data", "validate", "--data", str(PROJECT_ROOT / "data"), str(path),
                             "--domain", str(PROJECT_ROOT / "domain.yml"),
                             "--config", str(PROJECT_ROOT / "config.yml"), "--fail-on-warnings"],
                            capture_output=True, text=True,
                            cwd=tmp_path, timeout=600, env={"RASA_TELEMETRY_ENABLED": "false",
                                                            "PATH": "/usr/bin:/bin",
                                                            "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _replace(value, mapping):
    if isinstance(value, str):
        for old, new in mapping.items():
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, mapping) for k, v in value.items()}
    return value


def test_a_story_export_is_the_conversation_as_the_projects_test_stories_tell_it(indexed):
    text = _export(indexed, "stories", ids=["x-refund"])
    [story] = yaml.safe_load(text)["stories"]
    reference = yaml.safe_load((PROJECT_ROOT / "tests" / "test_refunds.yml").read_text())["stories"][0]
    assert reference["story"] == "eligible refund with one-time code and confirmation"
    expected = _replace(reference["steps"], {"alice@example.com": "alex@example.com",
                                             "100000001": "123456789", "482915": "123456"})
    expected = [{k: v.strip() if isinstance(v, str) else v for k, v in step.items()} for step in expected]
    assert story["steps"] == expected
    assert "alice" not in text and "100000001" not in text


def test_stories_of_a_filter_skip_what_a_story_cannot_tell(indexed, core):
    odd = conv.Conversation("x-rewind", core.clock)
    odd.user("hi", "greet")
    odd.action("utter_greet")
    from rasa.shared.core.events import UserUtteranceReverted

    odd._add(UserUtteranceReverted())
    odd.save(indexed)
    Indexer(indexed).run_once()
    text = _export(indexed, "stories", ConversationFilter(sort="conversation_id", descending=False))
    stories = yaml.safe_load(text)["stories"]
    assert "review x-rewind" not in [s["story"] for s in stories]
    assert "# not exported: x-rewind" in text
    assert "review x-refund" in [s["story"] for s in stories]
