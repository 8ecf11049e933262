"""Throttles of the hardening issue against the real action server (tests/security/conftest.py),
called as Rasa calls it, with the metadata our channels set (`client_address`):

* per order reference: ten wrong emails from ten new conversations (and ten addresses) were all
  checked against one reference; now five lock it for 15 minutes and open a ticket;
* per email address: five wrong references with a customer's email lock the address;
* per client address: one address opening new conversations gets no fresh tries with each;
* the charge lookup by amount, date and card's last 4 digits, per conversation and address.

Every test uses its own orders and addresses: the server and its database live for the session.
"""
from __future__ import annotations

import uuid

from tests.conftest import db_rows
from tests.security.test_action_server import FORM, _slots, _texts


def _order(server, reference: str) -> tuple[str, str]:
    [row] = db_rows(server.database_url, "SELECT c.email FROM orders o JOIN customers c "
                                         "ON c.id = o.customer_id WHERE o.reference = :r",
                    r=reference)
    return reference, row["email"]


def _lookup(server, sender: str, email: str, reference: str, client: str):
    """The form's last step as Rasa runs it: email known, the order reference just given."""
    state = {"pending_task": "get_license", "requested_slot": "order_ref", "email": email}
    return server.run("validate_verify_order_form", sender, slots=state,
                      new_slots={"order_ref": reference}, active_loop=FORM, client_address=client)


def _mismatch(response) -> bool:
    return "couldn't find an order with that email address and order reference" in _texts(response)


def _tickets(server, reason: str, since_id: int = 0):
    return db_rows(server.database_url, "SELECT id, team, conversation_id, summary, order_id "
                                        "FROM handoff_tickets WHERE reason_code = :r AND id > :i "
                                        "ORDER BY id", r=reason, i=since_id)


def _last_ticket_id(server) -> int:
    return db_rows(server.database_url, "SELECT coalesce(max(id), 0) AS n FROM handoff_tickets")[0]["n"]


def _net(_label: str) -> str:
    """A client-address prefix of its own for one test."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}."


# ---- per order reference ---------------------------------------------------------------------
def test_ten_wrong_emails_from_ten_new_conversations_do_not_all_reach_one_reference(action_server):
    server = action_server
    reference, email = _order(server, "100001001")
    before = _last_ticket_id(server)
    net = _net("ref")
    answers = [_lookup(server, server.sender("ref-guess"), f"guess{i}.{uuid.uuid4().hex[:6]}@example.org",
                       reference, client=f"{net}{i}") for i in range(10)]
    checked = [_mismatch(a) for a in answers]
    assert checked == [True] * 5 + [False] * 5  # before: ten times True
    refused = _texts(answers[5])
    assert "too many unsuccessful attempts" in refused and "for the next 15 minutes" in refused
    assert _slots(answers[5])["verification_blocked"] is True
    # the reference is locked for everyone - the real customer too, but only for the lock's time
    owner = _lookup(server, server.sender("ref-owner"), email, reference, client="192.0.2.10")
    assert "for the next 15 minutes" in _texts(owner) and "verified_ref" not in {
        k for k, v in _slots(owner).items() if v}
    # and the lock opened one ticket for Customer Service naming the order, attached to nothing
    [ticket] = _tickets(server, "verification_locked", before)
    assert ticket["team"] == "customer_service" and ticket["order_id"] is None
    assert reference in ticket["summary"] and "guess" not in ticket["summary"]


# ---- per email address -----------------------------------------------------------------------
def test_five_wrong_references_with_a_customers_email_lock_that_email(action_server):
    server = action_server
    reference, email = _order(server, "100001003")
    before = _last_ticket_id(server)
    net = _net("email")
    answers = [_lookup(server, server.sender("email-guess"), email, f"3{uuid.uuid4().int % 10**8:08d}",
                       client=f"{net}{i}") for i in range(6)]
    assert [_mismatch(a) for a in answers] == [True] * 5 + [False]
    owner = _lookup(server, server.sender("email-owner"), email, reference, client="192.0.2.11")
    assert "too many unsuccessful attempts" in _texts(owner)
    # the lock opened a ticket (before: none), and the reply says how long it lasts
    [ticket] = _tickets(server, "verification_locked", before)
    assert ticket["team"] == "customer_service" and email not in ticket["summary"]
    assert "for the next 15 minutes" in _texts(owner)


# ---- per client address ----------------------------------------------------------------------
def test_one_client_address_gets_no_fresh_tries_with_each_new_conversation(action_server):
    server = action_server
    reference, email = _order(server, "100001006")
    client = _net("client") + "1"
    for i in range(10):  # another conversation, email and reference every time
        answer = _lookup(server, server.sender("client-guess"), f"c{i}.{uuid.uuid4().hex[:6]}@example.org",
                         f"4{uuid.uuid4().int % 10**8:08d}", client=client)
        assert _mismatch(answer), i
    # the eleventh, even with a right pair, is refused (before: verified)
    refused = _lookup(server, server.sender("client-right"), email, reference, client=client)
    assert "too many unsuccessful attempts" in _texts(refused)
    assert not _slots(refused).get("verified_ref")
    # another address is not affected
    other = _lookup(server, server.sender("client-other"), email, reference, client="192.0.2.12")
    assert _slots(other)["verified_ref"] == reference


# ---- the charge lookup -----------------------------------------------------------------------
def _charge(server, sender: str, client: str, last4: str):
    slots = {"amount": "49.00", "currency": "EUR", "date": "2020-01-01", "card_last4": last4}
    return server.run("action_lookup_charge", sender, slots=slots, client_address=client)


def test_the_charge_lookup_is_throttled_per_conversation(action_server):
    server = action_server
    sender, client = server.sender("charges-conv"), _net("charges") + "1"
    replies = [_texts(_charge(server, sender, client, f"{1000 + i}")) for i in range(6)]
    assert all("couldn't match a charge" in r for r in replies[:5])
    assert "can't look up another one for the next" in replies[5]  # before: a sixth lookup
    assert "couldn't match" not in replies[5]


def test_the_charge_lookup_is_throttled_per_client_address(action_server):
    server = action_server
    client = _net("charges-client") + "1"
    replies = [_texts(_charge(server, server.sender("charges-new"), client, f"{2000 + i}"))
               for i in range(11)]
    assert all("couldn't match a charge" in r for r in replies[:10])
    assert "can't look up another one for the next" in replies[10]
    assert "couldn't match a charge" in _texts(_charge(server, server.sender("charges-new"),
                                                       "192.0.2.13", "2999"))
