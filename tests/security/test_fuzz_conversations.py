"""A bounded, seeded conversation fuzzer against the real Rasa server and action server.

Many conversations at once, each a random walk: intents as text and as shorthand payloads
(`/intent{...}`, with slot names the bot uses internally), other customers' references and
email addresses (never the matching pair), guessed one-time codes, yes and no at random
points, card numbers with every kind of separator, junk. A quarter of the conversations are
the orders' owners: they give the matching pair, read the real code from the outbox (or
mistype it) and answer yes or no at random - so money does move, and every movement must be
explained. After the run, from the database:

- every refund and every subscription change was made by a conversation that verified the
  one-time code for that order and purpose and whose "yes" the server recorded (a `used`
  confirmation); no refund or subscription change at all by a conversation without the pair;
- no reply disclosed another customer's data (email address, license key, activation code,
  download link, card's last 4) to a conversation that did not give that order's pair;
- no card number the fuzzer typed is stored anywhere in the database (tracker events included);
- no HTTP 500, no reply saying an action failed.

Bounded for `make test` (about 2-3 minutes, `SUPPORTBOT_FUZZ_SECONDS`, default 150, and
`SUPPORTBOT_FUZZ_TURNS`, default 3000, whichever comes first); `SUPPORTBOT_FUZZ_SEED` replays a
run (the seed is printed on failure), e.g.
`SUPPORTBOT_FUZZ_SECONDS=1800 SUPPORTBOT_FUZZ_TURNS=50000 pytest tests/security/test_fuzz_conversations.py`.
"""
from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from supportbot.core import vocabulary
from supportbot.privacy import luhn_valid
from supportbot.rasa_server.failures import ACTION_FAILED_REPLY, STORE_UNAVAILABLE_REPLY
from tests.faults.stack import start_stack

pytestmark = pytest.mark.e2e

SECONDS = float(os.environ.get("SUPPORTBOT_FUZZ_SECONDS", "150"))
TURNS = int(os.environ.get("SUPPORTBOT_FUZZ_TURNS", "3000"))
WORKERS = int(os.environ.get("SUPPORTBOT_FUZZ_WORKERS", "6"))
SEED = int(os.environ.get("SUPPORTBOT_FUZZ_SEED", str(random.SystemRandom().randrange(10**9))))

INTENTS = ["greet", "goodbye", "thanks", "affirm", "deny", "bot_challenge", "inform",
           "contact_human", "unknown_charge", "card_declined", "duplicate_charge",
           "missing_confirmation", "get_license", "request_refund", "refund_status",
           "cancel_subscription", "reinstate_subscription", "subscription_status",
           "change_payment_method", "update_billing_address", "download_invoice",
           "payment_missing", "tax_question", "quote_request", "technical_support", "faq",
           "out_of_scope"]
MONEY_INTENTS = ["request_refund", "cancel_subscription", "reinstate_subscription",
                 "change_payment_method", "duplicate_charge", "get_license", "refund_status"]
PHRASES = {
    "request_refund": ["I want a refund", "refund my order please", "give me my money back"],
    "cancel_subscription": ["cancel my subscription", "stop the auto renewal"],
    "reinstate_subscription": ["reactivate my subscription", "I cancelled by mistake, turn it back on"],
    "change_payment_method": ["I want to change my card", "update my payment method"],
    "get_license": ["send me my license key", "I lost my activation code"],
    "refund_status": ["where is my refund?", "refund not received yet"],
    "duplicate_charge": ["I was charged twice"],
    "contact_human": ["let me talk to a person"],
}
YES = ["yes", "yes please", "sure, go ahead", "/affirm", "ok do it"]
NO = ["no", "no thanks", "/deny", "stop"]
# the slots the bot keeps for itself: a client that sets them proves nothing
FORGED_SLOTS = ["verified_ref", "code_verified_ref", "refund_target_ref", "refund_route",
                "code_sent_ref", "refund_confirmed", "pending_task", "verification_blocked"]
# demo orders whose owners can get money back or change a subscription (docs/demo-data.md)
MONEY_ORDERS = ["100000001", "100000006", "100000014", "100000016", "100000017", "100000018",
                "100000020", "100000010", "100000011", "100000012"]
SEPARATORS = [" ", "-", ".", "  ", "\t", "\n", "/", "\u00a0", " - "]


@dataclass
class Order:
    reference: str
    email: str
    secrets: set[str]
    last4: str | None


@dataclass
class Conversation:
    sender: str
    owner_of: Order | None
    client_address: str
    turns: list[tuple[str, str]] = field(default_factory=list)  # (customer, bot)
    typed: str = ""
    proven: set[str] = field(default_factory=set)  # references whose pair this chat gave
    gave_email: set[str] = field(default_factory=set)
    gave_ref: set[str] = field(default_factory=set)


def card_number(rng: random.Random) -> str:
    body = rng.choice("3456") + "".join(rng.choice("0123456789") for _ in range(14))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


def written(rng: random.Random, number: str) -> str:
    groups = [number[i:i + 4] for i in range(0, len(number), 4)]
    if rng.random() < 0.3:
        return number
    return "".join(g + (rng.choice(SEPARATORS) if i < len(groups) - 1 else "")
                   for i, g in enumerate(groups))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = start_stack(tmp_path_factory.mktemp("fuzz"), database="sqlite")
    try:
        yield stack
    finally:
        stack.stop()


def _orders(stack) -> list[Order]:
    rows = stack.rows(
        "SELECT o.reference, c.email, i.license_key, i.activation_code, i.download_url, "
        "(SELECT p.card_last4 FROM payments p WHERE p.order_id = o.id AND p.card_last4 IS NOT NULL "
        " LIMIT 1) AS last4 FROM orders o JOIN customers c ON c.id = o.customer_id "
        "LEFT JOIN order_items i ON i.order_id = o.id ORDER BY o.reference")
    orders: dict[str, Order] = {}
    for r in rows:
        order = orders.setdefault(r["reference"], Order(r["reference"], r["email"], set(), r["last4"]))
        order.secrets |= {v for v in (r["license_key"], r["activation_code"], r["download_url"]) if v}
    return list(orders.values())


class Fuzzer:
    def __init__(self, stack, orders: list[Order], seed: int):
        self.stack, self.orders, self.seed = stack, orders, seed
        self.by_ref = {o.reference: o for o in orders}
        self.lock = threading.Lock()
        self.turns = 0
        self.deadline = time.monotonic() + SECONDS
        self.cards: set[str] = set()
        self.errors: list[str] = []
        self.conversations: list[Conversation] = []

    def budget_left(self) -> bool:
        with self.lock:
            return self.turns < TURNS and time.monotonic() < self.deadline

    # --- one message ------------------------------------------------------------------------
    def message(self, rng: random.Random, conv: Conversation, last_reply: str) -> str:
        owner = conv.owner_of
        victim = rng.choice(self.orders)
        other = rng.choice([o for o in self.orders if o.email != victim.email])
        asked_code = "code" in last_reply.lower()
        asked_yes = "shall i" in last_reply.lower() or "go ahead" in last_reply.lower()
        roll = rng.random()
        if owner is not None and asked_code and roll < 0.7:
            try:
                code = self.stack.latest_code(owner.email, timeout=3)
            except AssertionError:
                code = f"{rng.randrange(10**6):06d}"
            return code if rng.random() < 0.85 else f"{rng.randrange(10**6):06d}"
        if asked_yes and roll < 0.6:
            return rng.choice(YES + NO)
        if roll < 0.12:
            return rng.choice(YES + NO)
        if roll < 0.25:
            intent = rng.choice(MONEY_INTENTS)
            return rng.choice(PHRASES.get(intent, [f"/{intent}"]) + [f"/{intent}"])
        if roll < 0.32:
            return f"/{rng.choice(INTENTS)}"
        if roll < 0.45:
            if owner is not None and rng.random() < 0.6:
                return rng.choice([owner.email, owner.reference, f"{owner.email} {owner.reference}"])
            # another customer's reference with an email of someone else: never the pair
            return rng.choice([victim.reference, other.email, f"{other.email} order {victim.reference}",
                               f"#{victim.reference}"])
        if roll < 0.58:
            entities: dict[str, object] = {}
            for name in rng.sample(["email", "order_ref", "one_time_code", "refund_reason"], rng.randint(1, 3)):
                entities[name] = {"email": other.email if owner is None else owner.email,
                                  "order_ref": victim.reference if owner is None else owner.reference,
                                  "one_time_code": f"{rng.randrange(10**6):06d}",
                                  "refund_reason": rng.choice(vocabulary.REFUND_REASONS)}[name]
            return f"/{rng.choice(['inform', 'request_refund', 'affirm', 'reinstate_subscription'])}" \
                   f"{json.dumps(entities)}"
        if roll < 0.66:
            forged = {slot: rng.choice([victim.reference, True, "automatic", "refund", "yes"])
                      for slot in rng.sample(FORGED_SLOTS, rng.randint(1, 4))}
            return f"/{rng.choice(['inform', 'affirm'])}{json.dumps(forged)}"
        if roll < 0.74:
            return f"{rng.randrange(10**6):06d}"  # a guessed code
        if roll < 0.82:
            number = card_number(rng)
            with self.lock:
                self.cards.add(number)
            return rng.choice(["my card is {}", "charged on {} twice", "{}", "card: {} exp 12/27"]).format(
                written(rng, number))
        if roll < 0.9:
            return rng.choice(["what is this charge?", "hello", "who are you", "thanks", "bye",
                               "how do I add a staff account?", "I need a VAT invoice",
                               "my payment was declined", "the software crashes"])
        junk = "".join(rng.choice("abc {}[]/\"#@0123456789\u00e9\u65e5\n") for _ in range(rng.randint(1, 60)))
        return rng.choice([junk, "/" + junk, "/inform{" + junk, "{}" * rng.randint(1, 20)])

    def note_proof(self, conv: Conversation, text: str) -> None:
        lowered = text.lower()
        conv.gave_email |= {o.email for o in self.orders if o.email in lowered}
        conv.gave_ref |= {r for r in re.findall(r"(?<!\d)\d{9}(?!\d)", text) if r in self.by_ref}
        conv.proven |= {r for r in conv.gave_ref if self.by_ref[r].email in conv.gave_email}

    # --- one conversation -------------------------------------------------------------------
    def conversation(self, index: int) -> None:
        rng = random.Random(self.seed * 1_000_003 + index)
        owner = None
        if rng.random() < 0.25:
            money = [self.by_ref[r] for r in MONEY_ORDERS if r in self.by_ref]
            owner = rng.choice(money if money and rng.random() < 0.6 else self.orders)
        # the client's address (the per-address throttle): each owner its own, the attackers
        # share a few
        address = f"198.51.100.{index % 250}" if owner else f"203.0.113.{rng.randrange(8)}"
        conv = Conversation(self.stack.new_sender(f"fuzz{index}"), owner, address)
        with self.lock:
            self.conversations.append(conv)
        reply = ""
        script: list[str] = []
        if owner is not None and rng.random() < 0.7:  # the owner goes straight for the money
            intent = rng.choice(["request_refund", "request_refund", "cancel_subscription",
                                 "reinstate_subscription", "change_payment_method"])
            script = [rng.choice(PHRASES[intent]), owner.email, owner.reference]
            if intent == "request_refund":
                script.append(f'/inform{{"refund_reason": "{rng.choice(vocabulary.REFUND_REASONS)}"}}')
        for _ in range(rng.randint(6, 30)):
            if not self.budget_left():
                return
            text = script.pop(0) if script else self.message(rng, conv, reply)
            conv.typed += "\n" + text
            self.note_proof(conv, text)
            try:
                response = self.stack.post(conv.sender, text, timeout=60, metadata={
                    "channel": "rest", "client_address": conv.client_address})
            except requests.RequestException as exc:
                self.errors.append(f"{conv.sender}: {text!r}: {exc.__class__.__name__}: {exc}")
                return
            with self.lock:
                self.turns += 1
            if response.status_code >= 500:
                self.errors.append(f"{conv.sender}: {text!r}: HTTP {response.status_code}")
                return
            try:
                messages = response.json() if response.status_code == 200 else []
            except ValueError:
                messages = []
            reply = "\n".join(str(m.get("text") or "") for m in messages if isinstance(m, dict))
            conv.turns.append((text, reply))
            for failure in (ACTION_FAILED_REPLY, STORE_UNAVAILABLE_REPLY):
                if failure in reply:
                    self.errors.append(f"{conv.sender}: {text!r}: the bot reported a fault")

    def run(self) -> None:
        with ThreadPoolExecutor(WORKERS) as pool:
            index = 0
            futures = []
            while self.budget_left():
                while len([f for f in futures if not f.done()]) < WORKERS and self.budget_left():
                    futures.append(pool.submit(self.conversation, index))
                    index += 1
                time.sleep(0.05)
            for future in futures:
                future.result()


# --- the checks ------------------------------------------------------------------------------

def _disclosures(fuzz: Fuzzer) -> list[str]:
    found = []
    for conv in fuzz.conversations:
        allowed_last4 = {fuzz.by_ref[r].last4 for r in conv.proven}
        allowed = set().union(*[fuzz.by_ref[r].secrets for r in conv.proven])
        for order in fuzz.orders:
            if order.reference in conv.proven:
                continue
            for said, reply in conv.turns:
                for secret in order.secrets | {order.email}:
                    if secret in reply and secret not in conv.typed and secret not in allowed:
                        found.append(f"{conv.sender} got {secret!r} of {order.reference} after {said!r}")
                if (order.last4 and re.search(rf"(?:ending|ends in|last 4[^0-9]{{0,12}})\s*{order.last4}\b", reply)
                        and order.last4 not in allowed_last4 and order.last4 not in conv.typed):
                    found.append(f"{conv.sender} got the card ending {order.last4} of {order.reference}")
    return found


def _duplicate_of_a_proven_order(stack, order_id: int, proven: set[str]) -> bool:
    """The duplicate-charge flow refunds an order of the same customer and client with the same
    total placed within 48 h of the one whose pair was given (SupportServices.find_duplicate_orders
    grants it to the conversation): that is proof too, for that order only."""
    if not proven:
        return False
    rows = stack.rows(
        "SELECT p.reference FROM orders o JOIN orders p ON p.customer_id = o.customer_id "
        "AND p.client_id = o.client_id AND p.total_minor = o.total_minor AND p.id <> o.id "
        "WHERE o.id = :o", o=order_id)
    return any(r["reference"] in proven for r in rows)


def _unexplained_money(fuzz: Fuzzer, refunds_before: set[int], subs_before: dict[str, tuple]) -> list[str]:
    stack, problems = fuzz.stack, []
    by_sender = {c.sender: c for c in fuzz.conversations}
    rows = stack.rows(
        "SELECT r.id, o.id AS order_id, o.reference, q.conversation_id FROM refunds r "
        "JOIN orders o ON o.id = r.order_id LEFT JOIN refund_requests q ON q.refund_id = r.id")
    for row in rows:
        if row["id"] in refunds_before:
            continue
        sender = row["conversation_id"]
        conv = by_sender.get(sender)
        if conv is None or not (row["reference"] in conv.proven
                                or _duplicate_of_a_proven_order(stack, row["order_id"], conv.proven)):
            problems.append(f"refund of {row['reference']} by {sender}, which did not give the pair")
        problems += _proof_missing(stack, sender, row["order_id"], vocabulary.CONFIRM_REFUND)
    for row in stack.rows("SELECT o.id AS order_id, o.reference, s.status, s.auto_renew, s.cancelled_at "
                          "FROM subscriptions s JOIN orders o ON o.id = s.order_id"):
        if subs_before[row["reference"]] == (row["status"], bool(row["auto_renew"]), row["cancelled_at"]):
            continue
        used = stack.rows("SELECT conversation_id, purpose FROM confirmations WHERE order_id = :o AND status = 'used' "
                          "AND purpose IN ('cancel_subscription', 'reinstate_subscription')",
                          o=row["order_id"])
        if not used:
            problems.append(f"subscription of {row['reference']} changed without a used confirmation")
        for u in used:
            conv = by_sender.get(u["conversation_id"])
            if conv is None or row["reference"] not in conv.proven:
                problems.append(f"subscription of {row['reference']} changed by {u['conversation_id']}, "
                                f"which did not give the pair")
            problems += _proof_missing(stack, u["conversation_id"], row["order_id"], u["purpose"])
    # a link that changes the payment method moves money later: the same proof
    for row in stack.rows("SELECT conversation_id, order_id FROM audit_log WHERE action = 'mail.payment_method_link'"):
        problems += _proof_missing(stack, row["conversation_id"], row["order_id"],
                                   vocabulary.CONFIRM_CHANGE_PAYMENT_METHOD)
    return problems


def _proof_missing(stack, sender, order_id, purpose: str) -> list[str]:
    """A `used` confirmation of this conversation, order and purpose, asked after a code of
    this conversation, order and code purpose was verified (the challenge it names)."""
    proofs = stack.rows(
        "SELECT c.purpose FROM confirmations c JOIN verification_challenges v ON v.id = c.challenge_id "
        "WHERE c.conversation_id = :c AND c.order_id = :o AND c.status = 'used' "
        "AND v.conversation_id = :c AND v.order_id = :o AND v.purpose = :p "
        "AND v.verified_at IS NOT NULL AND v.verified_at <= c.created_at",
        c=sender, o=order_id, p=vocabulary.CODE_PURPOSE_OF[purpose])
    if not any(r["purpose"] == purpose for r in proofs):
        return [f"{sender}: money moved on order #{order_id} without a verified code and a "
                f"recorded yes"]
    return []


_RUN = re.compile(r"\d(?:[^\w]{0,3}\d)+")


def _strings(value: object) -> list[str]:
    """`value` and, when it is JSON (tracker events), every string inside it."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return [value]
        return [value, *_strings(decoded)] if not isinstance(decoded, str) else [value, decoded]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _cards_in(blob: object, cards: set[str]) -> set[str]:
    """The numbers of `cards` written anywhere in `blob`, whatever separates their digits."""
    runs = {re.sub(r"\D", "", m.group(0)) for text in _strings(blob) for m in _RUN.finditer(text)}
    return {number for number in cards if any(number in run for run in runs)}


def _stored_cards(fuzz: Fuzzer) -> list[str]:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(fuzz.stack.database_url, future=True)
    found = []
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    values = [v for v in row if isinstance(v, (str, bytes))]
                    for number in _cards_in(values, fuzz.cards):
                        found.append(f"{table}: card {number[:4]}...{number[-4:]} stored")
    finally:
        engine.dispose()
    return found


def test_fuzzed_conversations_move_no_money_without_proof_and_disclose_nothing(stack):
    orders = _orders(stack)
    refunds_before = {r["id"] for r in stack.rows("SELECT id FROM refunds")}
    subs_before = {r["reference"]: (r["status"], bool(r["auto_renew"]), r["cancelled_at"]) for r in stack.rows(
        "SELECT o.reference, s.status, s.auto_renew, s.cancelled_at FROM subscriptions s "
        "JOIN orders o ON o.id = s.order_id")}
    fuzz = Fuzzer(stack, orders, SEED)
    started = time.monotonic()
    fuzz.run()
    elapsed = time.monotonic() - started
    if os.environ.get("SUPPORTBOT_FUZZ_DUMP"):  # every transcript, to read a run afterwards
        Path(os.environ["SUPPORTBOT_FUZZ_DUMP"]).write_text(json.dumps(
            [{"sender": c.sender, "owner_of": c.owner_of.reference if c.owner_of else None,
              "proven": sorted(c.proven), "turns": c.turns} for c in fuzz.conversations], indent=1))
    problems = list(fuzz.errors)
    problems += _unexplained_money(fuzz, refunds_before, subs_before)
    problems += _disclosures(fuzz)
    problems += _stored_cards(fuzz)
    statuses = defaultdict(int)
    for code in stack.statuses:
        statuses[code] += 1
    used = stack.rows("SELECT purpose, count(*) AS n FROM confirmations WHERE status = 'used' GROUP BY purpose")
    summary = (f"seed {SEED}: {fuzz.turns} turns in {len(fuzz.conversations)} conversations, "
               f"{elapsed:.0f} s, HTTP {dict(statuses)}, {len(fuzz.cards)} card numbers typed, "
               f"{len(stack.rows('SELECT id FROM refunds')) - len(refunds_before)} refunds by owners, "
               f"confirmations used {({r['purpose']: r['n'] for r in used})}")
    print(summary)
    assert not problems, f"{summary} (replay: SUPPORTBOT_FUZZ_SEED={SEED})\n" + "\n".join(problems[:40])
    assert fuzz.turns >= min(TURNS, 200), summary  # it really ran


def test_the_checks_find_what_they_look_for():
    """The fuzzer's own checks, on a made-up run: a leaked key, a leaked card ending, a stored
    card number with odd separators are found; the owner's own data is not a disclosure."""
    alice = Order("100000001", "alice@example.com", {"PF-KEY-1"}, "4242")
    bob = Order("100000002", "bob@example.com", {"NN-KEY-2"}, "1111")
    fuzz = Fuzzer(None, [alice, bob], 1)
    owner = Conversation("owner", alice, "a", proven={"100000001"},
                         turns=[("x", "your key PF-KEY-1, Visa card ending 4242")])
    thief = Conversation("thief", None, "b", turns=[("x", "sent NN-KEY-2 to the card ending 1111")])
    fuzz.conversations = [owner, thief]
    found = _disclosures(fuzz)
    assert len(found) == 2 and all(f.startswith("thief") for f in found), found
    number = "4111111111111111"
    assert _cards_in(json.dumps({"text": "card 4111.1111\t1111\u00a0/ 1111 ok"}), {number}) == {number}
    assert _cards_in(["x", b"4111 1111-1111 1111"], {number}) == {number}
    assert _cards_in("card **** **** **** 1111 at 1733283345.123456", {number}) == set()
