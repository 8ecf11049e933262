"""The review pages over demo conversations made by the real core and indexed by the real
indexer: find, read, judge, export, reveal, queue, erase - and who may do which."""
from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil

import pytest
from sqlalchemy import select

from supportbot.console.accounts.service import Accounts
from supportbot.console.web.app import create_app
from supportbot.core.vocabulary import TEAM_LABELS
from supportbot.db.engine import make_engine, session_scope
from supportbot.db.models import AuditLog
from supportbot.review.indexer import Indexer
from tests.unit.console import demo_conversations
from tests.unit.console.conftest import LEAD, REVIEWER, ConsoleClient


@pytest.fixture(scope="module")
def _demo_template(tmp_path_factory):
    directory = tmp_path_factory.mktemp("console-demo")
    demo = demo_conversations.build(f"sqlite:///{directory / 'demo.db'}", directory / "outbox")
    engine = make_engine(demo.url)
    Indexer(engine).run_once()
    accounts = Accounts(engine)
    accounts.add_user(LEAD[0], "lead", LEAD[1])
    accounts.add_user(REVIEWER[0], "reviewer", REVIEWER[1])
    engine.dispose()
    return directory / "demo.db", demo


@pytest.fixture
def demo(tmp_path, _demo_template):
    path, demo = _demo_template
    shutil.copyfile(path, tmp_path / "demo.db")
    demo.url = f"sqlite:///{tmp_path / 'demo.db'}"
    return demo


@pytest.fixture
def demo_engine(demo):
    engine = make_engine(demo.url)
    yield engine
    engine.dispose()


@pytest.fixture
def clients(demo_engine):
    loop = asyncio.new_event_loop()
    made = []

    def make(user=None) -> ConsoleClient:
        client = ConsoleClient(create_app(demo_engine), loop)
        made.append(client)
        if user:
            assert client.login(*user).status == 303
        return client

    yield make
    for client in made:
        client.close()
    loop.close()


@pytest.fixture
def lead(clients):
    return clients(LEAD)


@pytest.fixture
def reviewer(clients):
    return clients(REVIEWER)


def _ids(html: str) -> set[str]:
    return set(re.findall(r'href="/conversations/([^"?/]+)"', html))


def _audit(engine, action: str) -> list[AuditLog]:
    with session_scope(engine) as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_the_list_has_combinable_filters_in_the_url(reviewer, demo):
    assert _ids(reviewer.get("/conversations").text) == {demo.alice, demo.bob, demo.email, demo.fallback}
    assert _ids(reviewer.get("/conversations?refund=issued").text) == {demo.alice}
    assert _ids(reviewer.get("/conversations?refund=issued&channel=email").text) == set()
    assert _ids(reviewer.get("/conversations?handed_off=true&team=customer_service").text) == {demo.bob}
    assert _ids(reviewer.get("/conversations?had_fallback=true").text) == {demo.fallback}
    assert _ids(reviewer.get("/conversations?text=frobnicator").text) == {demo.fallback}
    assert _ids(reviewer.get("/conversations?confidence_max=0.5").text) == {demo.fallback}
    page = reviewer.get("/conversations?refund=issued&channel=widget")
    assert '<option value="issued" selected>' in page.text  # the form shows the filter back
    assert "sort=user_turns" in page.text and "refund=issued" in page.text  # sort keeps filters


def test_a_bad_filter_is_reported_not_crashed(reviewer):
    page = reviewer.get("/conversations?confidence_min=high")
    assert page.status == 400 and "confidence_min" in page.text


def test_sorting_and_paging(reviewer, demo):
    html = reviewer.get("/conversations?sort=lowest_confidence&descending=false").text
    order = re.findall(r'href="/conversations/([^"?/]+)"', html)
    assert order[0] == demo.fallback
    assert "Page 1 of 1" in html
    first = reviewer.get("/conversations?sort=lowest_confidence&descending=false&page_size=3")
    assert "Page 1 of 2" in first.text
    next_url = re.search(r'href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    assert "page=2" in next_url and "page_size=3" in next_url and "sort=lowest_confidence" in next_url
    second = reviewer.get(next_url)
    assert "Page 2 of 2" in second.text and len(_ids(second.text)) == 1
    assert _ids(second.text).isdisjoint(_ids(first.text))
    api = reviewer.get("/api/conversations?page_size=2").json()
    assert api["total"] == 4 and api["pages"] == 2 and len(api["items"]) == 2


def test_the_transcript_shows_what_the_bot_understood_and_did(reviewer, demo):
    page = reviewer.get(f"/conversations/{demo.alice}")
    assert page.status == 200
    html = page.text
    assert "request_refund" in html and "94%" in html  # intent + confidence
    assert "refund_status" in html  # an alternative
    assert "Refund issued" in html and "49.00 EUR" in html
    assert re.search(rf'class="ledger-id">{demo.refund_id}<', html)
    assert "One-time code sent" in html and "Verified" in html and "Refund decision" in html
    assert "verify_order_form" in html and "pending_task" in html
    assert demo_conversations.CODE not in html  # never the code
    assert "alice@example.com" not in html and "a***e@example.com" in html


def test_a_handed_off_refund_shows_the_decision_and_the_ticket(reviewer, demo):
    html = reviewer.get(f"/conversations/{demo.bob}").text
    assert "refund_window_passed" in html and f"Ticket #{demo.ticket_id} created" in html


def test_card_numbers_are_never_shown_even_revealed(lead, demo, demo_engine):
    digits = demo_conversations.CARD.replace(" ", "")
    for page in (lead.get(f"/conversations/{demo.email}"), lead.get("/conversations")):
        assert demo_conversations.CARD not in page.text and digits not in page.text
        assert "zoe@example.org" not in page.text
    csrf = lead.get(f"/conversations/{demo.email}").csrf()
    revealed = lead.post(f"/conversations/{demo.email}/reveal", data={"csrf_token": csrf})
    assert revealed.status == 200 and "zoe@example.org" in revealed.text
    assert demo_conversations.CARD not in revealed.text and digits not in revealed.text
    assert revealed.headers["Cache-Control"] == "no-store"
    entries = _audit(demo_engine, "review.reveal")
    assert [(e.conversation_id, e.details["user"]) for e in entries] == [(demo.email, LEAD[0])]


def test_a_reviewer_may_not_reveal_export_or_erase(reviewer, demo, demo_engine):
    csrf = reviewer.get("/conversations").csrf()
    assert "Reveal email" not in reviewer.get(f"/conversations/{demo.email}").text
    assert reviewer.post(f"/conversations/{demo.email}/reveal", data={"csrf_token": csrf}).status == 403
    assert reviewer.post("/export", data={"csrf_token": csrf, "format": "csv"}).status == 403
    assert reviewer.get(f"/conversations/{demo.alice}/erase").status == 403
    assert reviewer.post(f"/conversations/{demo.alice}/erase",
                         data={"csrf_token": csrf, "confirm": demo.alice}).status == 403
    assert _audit(demo_engine, "review.reveal") == []
    assert reviewer.get(f"/conversations/{demo.alice}").status == 200  # nothing erased


def test_judging_without_javascript(reviewer, demo, demo_engine):
    base = f"/conversations/{demo.alice}"
    csrf = reviewer.get(base).csrf()
    response = reviewer.post(f"{base}/tags", data={"csrf_token": csrf, "tag": "Great Save"})
    assert response.status == 303 and response.headers["Location"].startswith(base)
    assert _ids(reviewer.get("/conversations?tag=great-save").text) == {demo.alice}
    assert reviewer.post(f"{base}/status", data={"csrf_token": csrf, "status": "reviewed"}).status == 303
    assert _ids(reviewer.get("/conversations?review_status=reviewed").text) == {demo.alice}
    assert reviewer.post(f"{base}/notes", data={"csrf_token": csrf, "body": "Textbook refund."}).status == 303
    assert "Textbook refund." in reviewer.get(base).text
    assert reviewer.post(f"{base}/tags/remove", data={"csrf_token": csrf, "tag": "great-save"}).status == 303
    assert _ids(reviewer.get("/conversations?tag=great-save").text) == set()
    tags = _audit(demo_engine, "review.tag_added")
    assert tags and tags[0].details["user"] == REVIEWER[0]


def test_judging_with_htmx_swaps_only_the_panel(reviewer, demo):
    base = f"/conversations/{demo.alice}"
    csrf = reviewer.get(base).csrf()
    response = reviewer.post(f"{base}/tags", data={"csrf_token": csrf, "tag": "checked"},
                             headers={"HX-Request": "true"})
    assert response.status == 200
    assert response.text.lstrip().startswith('<section id="judge"') and "checked" in response.text
    assert "<html" not in response.text
    bad = reviewer.post(f"{base}/status", data={"csrf_token": csrf, "status": "bogus"},
                        headers={"HX-Request": "true"})
    assert bad.status == 400 and 'role="alert"' in bad.text


def test_judging_needs_the_csrf_token(reviewer, demo):
    response = reviewer.post(f"/conversations/{demo.alice}/tags", data={"tag": "sneaky"},
                             headers={"HX-Request": "true"})
    assert response.status == 403
    assert _ids(reviewer.get("/conversations?tag=sneaky").text) == set()


def test_correcting_an_intent(reviewer, demo):
    base = f"/conversations/{demo.fallback}"
    page = reviewer.get(base)
    event_id = re.search(r'name="event_id" value="(\d+)"', page.text).group(1)
    bad = reviewer.post(f"{base}/corrections", data={"csrf_token": page.csrf(), "event_id": event_id,
                                                     "intent": "no_such_intent"})
    assert bad.status == 400 and "not an intent" in bad.text
    ok = reviewer.post(f"{base}/corrections", data={"csrf_token": page.csrf(), "event_id": event_id,
                                                    "intent": "greet"})
    assert ok.status == 303
    assert "corrected to <code>greet</code>" in reviewer.get(base).text


def test_a_lead_exports_the_filtered_list_as_csv(lead, demo, demo_engine):
    csrf = lead.get("/conversations?refund=issued").csrf()
    response = lead.post("/export", data={"csrf_token": csrf, "format": "csv", "refund": "issued"})
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["conversation_id"] for r in rows] == [demo.alice]
    everything = lead.post("/export", data={"csrf_token": csrf, "format": "jsonl"}).text
    assert demo_conversations.CARD.replace(" ", "") not in everything
    assert demo_conversations.CARD not in everything
    entries = _audit(demo_engine, "review.export")
    assert entries and entries[0].details["user"] == LEAD[0]
    assert lead.post("/export", data={"format": "csv"}).status == 403  # no CSRF token


def test_the_handoff_queue_claim_and_close(reviewer, demo):
    page = reviewer.get("/queue")
    assert page.status == 200 and f"/conversations/{demo.bob}" in page.text
    assert f"{TEAM_LABELS['customer_service']} (1)" in page.text
    csrf = page.csrf()
    assert reviewer.post(f"/queue/{demo.ticket_id}/claim", data={"csrf_token": csrf}).status == 303
    assert REVIEWER[0] in reviewer.get("/queue?team=customer_service").text
    missing = reviewer.post(f"/queue/{demo.ticket_id}/close", data={"csrf_token": csrf, "resolution": ""})
    assert missing.status == 400
    closed = reviewer.post(f"/queue/{demo.ticket_id}/close",
                           data={"csrf_token": csrf, "resolution": "Refunded by hand."})
    assert closed.status == 303
    after = reviewer.get("/queue").text
    assert f"/conversations/{demo.bob}" not in after and f"{TEAM_LABELS['customer_service']} (0)" in after
    assert reviewer.post("/queue/999999/claim", data={"csrf_token": csrf}).status == 404


def test_erasing_needs_a_lead_and_a_confirmation(lead, demo, demo_engine):
    base = f"/conversations/{demo.email}"
    confirm_page = lead.get(f"{base}/erase")
    assert confirm_page.status == 200 and "cannot be undone" in confirm_page.text
    wrong = lead.post(f"{base}/erase", data={"csrf_token": confirm_page.csrf(), "confirm": "yes"})
    assert wrong.status == 400 and lead.get(base).status == 200
    done = lead.post(f"{base}/erase", data={"csrf_token": confirm_page.csrf(), "confirm": demo.email})
    assert done.status == 303
    assert lead.get(base).status == 404
    assert demo.email not in _ids(lead.get("/conversations").text)
    entries = _audit(demo_engine, "review.erased")
    assert [e.conversation_id for e in entries] == [demo.email]
    assert "zoe" not in str(entries[0].details)


def test_unknown_conversation_is_404(reviewer):
    assert reviewer.get("/conversations/nope-nope").status == 404
    assert reviewer.get("/api/conversations?refund=maybe").status == 400


def test_a_long_conversation_loads_in_pages_and_odd_ids_work(reviewer, demo_engine):
    cid = "rest:long/one two"
    ev = demo_conversations.Events(demo_engine)
    for i in range(120):
        ev.user(cid, f"message number {i}", "faq", 0.9)
        ev.bot(cid, f"answer number {i}")
    Indexer(demo_engine).run_once()
    listing = reviewer.get("/conversations?text=number")
    link = re.search(r'href="(/conversations/rest[^"]+)"', listing.text).group(1)
    assert link == "/conversations/rest%3Along%2Fone%20two"
    first = reviewer.get(link)
    assert first.status == 200 and "Turns page 1 of 3" in first.text
    assert "message number 0<" in first.text and "message number 50<" not in first.text
    last = reviewer.get(f"{link}?page=3")
    assert "message number 119<" in last.text and "message number 99<" not in last.text
    csrf = first.csrf()
    assert reviewer.post(f"{link}/tags", data={"csrf_token": csrf, "tag": "long"}).status == 303
    assert "rest:long/one two" in reviewer.get("/conversations?tag=long").text


def test_a_lead_exports_one_conversation_as_a_test_story_and_corrections_as_nlu(clients, demo):
    lead = clients(LEAD)
    page = lead.get(f"/conversations/{demo.alice}")
    assert 'value="stories"' in page.text
    story = lead.post("/export", data={"csrf_token": page.csrf(), "format": "stories",
                                       "conversation_id": demo.alice})
    assert story.status == 200 and "stories:" in story.text
    assert "request_refund" in story.text and demo.bob not in story.text
    assert "alice@example.com" not in story.text and demo_conversations.CODE not in story.text
    reviewer = clients(REVIEWER)
    base = f"/conversations/{demo.fallback}"
    fallback = reviewer.get(base)
    event_id = re.search(r'name="event_id" value="(\d+)"', fallback.text).group(1)
    assert reviewer.post(f"{base}/corrections", data={"csrf_token": fallback.csrf(),
                                                      "event_id": event_id, "intent": "greet"}).status == 303
    nlu = lead.post("/export", data={"csrf_token": page.csrf(), "format": "nlu"})
    assert nlu.status == 200 and "intent: greet" in nlu.text and "frobnicator" in nlu.text
