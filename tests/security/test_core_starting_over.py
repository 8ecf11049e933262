"""Starting over and keeping promises, against the real action server:

* changing the order (or the email) at the confirmation step drops the code, the confirmation
  AND the verification of the order before in the core - a forged tracker that still names the
  old order gets nothing - and no payment details of an order the conversation has not verified;
* "I'll pass your request to a person" after a refused code send creates the ticket, now.
"""
from __future__ import annotations

from tests.conftest import db_rows
from tests.security.test_action_server import ALICE, FORM, _refunds, _slots, _texts, _verified
from tests.security.test_core_throttles import _lookup, _order

BOB = ("100000002", "bob@example.com")  # Visa ending 1111


def test_another_order_at_the_confirmation_step_drops_everything_of_the_order_before(action_server):
    server, sender = action_server, action_server.sender("switch")
    reference, email = ALICE
    state = _verified(server, sender, "request_refund", ALICE, reason="no_longer_needed")
    state.update(_slots(server.run("action_ask_one_time_code", sender, slots=state)))
    state.update(_slots(server.run("validate_verify_order_form", sender, slots=state,
                                   new_slots={"one_time_code": server.latest_code(email)},
                                   active_loop=FORM)))
    assert state["code_verified_ref"] == reference
    asked = _texts(server.run("action_ask_refund_confirmed", sender, slots=state))
    assert "Visa card ending 4242" in asked
    # at the confirmation step, the customer types someone else's order reference
    switched = server.run("validate_verify_order_form", sender, slots=state,
                          new_slots={"order_ref": BOB[0]}, active_loop=FORM)
    slots = _slots(switched)
    assert "1111" not in _texts(switched)
    assert slots["one_time_code"] is None and slots["refund_confirmed"] is None
    assert slots["verified_ref"] is None and slots["order_ref"] is None

    # a forged tracker that still says "Alice's order, verified, code entered": the core has
    # dropped the verification itself (before: only the slots), so nothing of it is shown
    forged = {**state, "order_ref": reference, "verified_ref": reference,
              "one_time_code": "verified", "code_verified_ref": reference}
    status = server.run("action_perform_task", sender, slots={**forged, "pending_task": "refund_status"})
    assert "check your order again" in _texts(status)  # before: "I can't see a refund for order ..."
    for target in (reference, BOB[0]):
        again = server.run("action_ask_refund_confirmed", sender,
                           slots={**forged, "order_ref": target, "verified_ref": target,
                                  "refund_target_ref": target})
        text = _texts(again)
        assert "ending" not in text and "4242" not in text and "1111" not in text
        assert "Shall I go ahead" not in text
    done = server.run("action_perform_task", sender,
                      slots={**forged, "refund_confirmed": True, "refund_route": "automatic"},
                      intent="affirm")
    assert "haven't refunded anything" in _texts(done)
    assert _refunds(server, reference) == 0
    statuses = db_rows(server.database_url, "SELECT status FROM confirmations "
                                            "WHERE conversation_id = :s", s=sender)
    assert [r["status"] for r in statuses] == ["superseded"]


def test_a_refused_code_send_opens_the_ticket_it_announces(action_server):
    """Three codes per order per 15 minutes: the fourth conversation's request is refused. The
    reply says a person takes over - and the ticket exists right away (before: none)."""
    server = action_server
    reference, email = _order(server, "100001007")
    for i in range(4):
        sender = server.sender("codes")
        verified = _slots(_lookup(server, sender, email, reference, client=f"192.0.2.{40 + i}"))
        assert verified["verified_ref"] == reference
        slots = {"pending_task": "request_refund", "email": email, "order_ref": reference,
                 "verified_ref": reference, "requested_slot": "one_time_code",
                 "refund_reason": "other", "refund_route": "automatic"}
        response = server.run("action_ask_one_time_code", sender, slots=slots, active_loop=FORM)
        text = _texts(response)
        if i < 3:
            assert "I've emailed a 6-digit code" in text
    tickets = db_rows(server.database_url, "SELECT id, team, reason_code, order_id FROM "
                                           "handoff_tickets WHERE conversation_id = :s", s=sender)
    assert "pass your request to a person" in text
    assert len(tickets) == 1, tickets  # before: []
    assert "for the next 15 minutes" in text  # how long, from the core's view
    [ticket] = tickets
    assert (ticket["team"], ticket["reason_code"]) == ("customer_service", "verification_failed")
    assert ticket["order_id"] is not None  # the conversation verified it: the team sees the order
    assert f"case #{ticket['id']}" in text
    events = [e["event"] for e in response.json()["events"]]
    assert "pause" in events  # the bot hands over: it stops answering this conversation
