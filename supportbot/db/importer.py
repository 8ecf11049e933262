"""`supportbot db import FILE.json`: clients, customers, orders, payments, subscriptions.

The format is the JSON Schema `import_schema.json` (documented in docs/data-import.md).
The whole file is checked before anything is written - the schema, card numbers, references
between records, amounts, statuses against money movements, conflicts with the database - and
every problem is reported with the record and field (`orders[3].payment_method: 'cheque' is
not one of [...]`). The rows are then written in ONE transaction: all or nothing.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from supportbot.core.timeutil import parse_iso
from supportbot.db.engine import session_scope
from supportbot.db.models import (
    AuditLog,
    Client,
    Customer,
    Order,
    OrderItem,
    Payment,
    Refund,
    Subscription,
)
from supportbot.privacy import luhn_valid

SCHEMA_PATH = Path(__file__).resolve().parent / "import_schema.json"
CARD_NUMBER_KEYS = {"number", "card_number", "cardnumber", "pan", "cc_number", "full_number"}
# fields that legitimately hold long digit runs and are not card numbers
NOT_CARD_FIELDS = {"license_key", "activation_code", "download_url"}
_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


class ImportValidationError(ValueError):
    """The file was rejected; `errors` lists every problem as `path: message`."""

    user_facing = True

    def __init__(self, errors: list[str]):
        self.errors = errors
        listing = "\n  ".join(errors)
        super().__init__(f"import rejected, nothing was imported ({len(errors)} problem"
                         f"{'s' if len(errors) != 1 else ''}):\n  {listing}")


@dataclass(frozen=True)
class ImportSummary:
    clients: int
    customers: int
    orders: int
    payments: int
    refunds: int
    subscriptions: int


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def format_path(path: Iterable[Any]) -> str:
    """deque(['orders', 3, 'payment_method']) -> 'orders[3].payment_method'."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(file)"


WINDOW_RULE = ("'refund_window_days' is required for refund_policy 'within_days' and not "
               "allowed otherwise")


def _schema_errors(document: Any) -> list[tuple[str, str]]:
    validator = Draft202012Validator(load_schema())
    errors = []
    for error in validator.iter_errors(document):
        path = format_path(error.absolute_path)
        conditional = "then" in error.schema_path or "else" in error.schema_path
        errors.append((path, WINDOW_RULE if conditional else error.message, conditional))
    # the window rule is noise when the policy itself is wrong
    wrong_policy = {path for path, _, _ in errors if path.endswith(".refund_policy")}
    return [(path, message) for path, message, conditional in errors
            if not (conditional and f"{path}.refund_policy" in wrong_policy)]


def _card_number_errors(value: Any, path: list[str | int]) -> list[tuple[str, str]]:
    """Full card numbers anywhere in the file: a key such as `number`, or a Luhn-valid
    13-19 digit run in any string (except license keys, activation codes, download links)."""
    found = []
    if isinstance(value, dict):
        for key, child in value.items():
            if str(key).lower() in CARD_NUMBER_KEYS:
                found.append((format_path(path + [key]),
                              "full card numbers are not accepted; give only card.brand and "
                              "card.last4"))
            elif key not in NOT_CARD_FIELDS:
                found.extend(_card_number_errors(child, path + [key]))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_card_number_errors(child, path + [index]))
    elif isinstance(value, str):
        for match in _DIGIT_RUN.finditer(value):
            digits = re.sub(r"[ -]", "", match.group(0))
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                found.append((format_path(path),
                              "looks like a full card number; only card.brand and card.last4 "
                              "are accepted"))
                break
    return found


class _Checker:
    """Cross-record checks of a schema-valid document against itself and the database."""

    def __init__(self, session: Session, document: dict[str, Any]) -> None:
        self.session = session
        self.doc = document
        self.errors: list[tuple[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def timestamp(self, path: str, text: str | None) -> datetime | None:
        if text is None:
            return None
        try:
            return parse_iso(text)
        except ValueError:
            self.error(path, f"{text!r} is not a valid ISO-8601 date and time with an offset")
            return None

    def run(self) -> None:
        clients = self.doc.get("clients", [])
        customers = self.doc.get("customers", [])
        orders = self.doc.get("orders", [])
        subscriptions = self.doc.get("subscriptions", [])

        codes = [c["code"] for c in clients]
        in_db = set(self.session.execute(
            select(Client.code).where(Client.code.in_(codes))).scalars()) if codes else set()
        seen: Counter[str] = Counter()
        for i, client in enumerate(clients):
            seen[client["code"]] += 1
            if seen[client["code"]] == 2:
                self.error(f"clients[{i}].code", f"{client['code']!r} appears twice in the file")
            if client["code"] in in_db:
                self.error(f"clients[{i}].code", f"client {client['code']!r} already exists")
        known_clients = set(codes) | self._db_client_codes(
            {c["client"] for c in customers} | {o["client"] for o in orders})

        db_customers = self._db_customers({(c["client"], c["email"].strip().lower())
                                           for c in customers}
                                          | {(o["client"], o["customer_email"].strip().lower())
                                             for o in orders})
        file_customers: set[tuple[str, str]] = set()
        for i, customer in enumerate(customers):
            key = (customer["client"], customer["email"].strip().lower())
            if customer["client"] not in known_clients:
                self.error(f"customers[{i}].client", f"unknown client {customer['client']!r}")
            if key in file_customers:
                self.error(f"customers[{i}].email",
                           f"{key[1]!r} appears twice for client {key[0]!r} (a customer is unique "
                           "per client)")
            if key in db_customers:
                self.error(f"customers[{i}].email",
                           f"customer {key[1]!r} of client {key[0]!r} already exists")
            file_customers.add(key)

        refs = [o["reference"] for o in orders]
        db_refs = set(self.session.execute(
            select(Order.reference).where(Order.reference.in_(refs))).scalars()) if refs else set()
        seen = Counter()
        for i, order in enumerate(orders):
            path = f"orders[{i}]"
            seen[order["reference"]] += 1
            if seen[order["reference"]] == 2:
                self.error(f"{path}.reference", f"{order['reference']} appears twice in the file")
            if order["reference"] in db_refs:
                self.error(f"{path}.reference", f"order {order['reference']} already exists")
            if order["client"] not in known_clients:
                self.error(f"{path}.client", f"unknown client {order['client']!r}")
            key = (order["client"], order["customer_email"].strip().lower())
            if key not in file_customers and key not in db_customers:
                self.error(f"{path}.customer_email",
                           f"no customer {key[1]!r} for client {key[0]!r} in the file or database")
            self.check_order(path, order)

        file_refs = set(refs)
        subscribed: Counter[str] = Counter()
        for i, sub in enumerate(subscriptions):
            path = f"subscriptions[{i}]"
            subscribed[sub["order"]] += 1
            if sub["order"] not in file_refs:
                self.error(f"{path}.order", f"order {sub['order']} is not in this file")
            if subscribed[sub["order"]] == 2:
                self.error(f"{path}.order", f"order {sub['order']} has two subscriptions")
            for name in ("started_at", "current_period_end", "trial_end", "cancelled_at"):
                self.timestamp(f"{path}.{name}", sub.get(name))
            if sub["status"] == "cancelled" and sub["auto_renew"]:
                self.error(f"{path}.auto_renew", "a cancelled subscription does not auto-renew")
            if sub["status"] == "trial" and "trial_end" not in sub:
                self.error(f"{path}.trial_end", "a subscription in trial needs trial_end")

    def check_order(self, path: str, order: dict[str, Any]) -> None:
        placed_at = self.timestamp(f"{path}.placed_at", order["placed_at"])
        total = order["total_minor"]
        if order["net_minor"] + order["vat_minor"] != total:
            self.error(f"{path}.total_minor",
                       f"{total} is not net_minor + vat_minor "
                       f"({order['net_minor']} + {order['vat_minor']})")
        if all("unit_price_minor" in item for item in order["items"]):
            items_total = sum(item["unit_price_minor"] * item.get("quantity", 1)
                              for item in order["items"])
            if items_total != total:
                self.error(f"{path}.items", f"the items add up to {items_total}, not to "
                                            f"total_minor {total}")
        sums: Counter[str] = Counter()
        refund_amounts: Counter[int] = Counter()
        for j, payment in enumerate(order.get("payments", [])):
            ppath = f"{path}.payments[{j}]"
            when = self.timestamp(f"{ppath}.occurred_at", payment["occurred_at"])
            if when and placed_at and when < placed_at:
                self.error(f"{ppath}.occurred_at", "is before the order was placed")
            if payment.get("status", "completed") == "completed":
                sums[payment["kind"]] += payment["amount_minor"]
                if payment["kind"] == "refund":
                    refund_amounts[payment["amount_minor"]] += 1
        for amount, count in refund_amounts.items():
            if count > 1:
                self.error(f"{path}.payments", f"two refunds of the same amount {amount}: "
                                               "the ledger holds one refund per order and amount")
        status = order["status"]
        charged, refunded = sums["charge"], sums["refund"]
        if status in ("pending", "cancelled"):
            if charged:
                self.error(f"{path}.status", f"a {status} order has no completed charge")
        elif total > 0 and charged != total:
            self.error(f"{path}.payments",
                       f"a {status} order needs completed charges of {total}, found {charged}")
        if refunded > charged:
            self.error(f"{path}.payments", "refunds exceed the charges")
        if status == "refunded" and refunded != total:
            self.error(f"{path}.status", f"a refunded order needs completed refunds of {total}, "
                                         f"found {refunded}")
        if status == "partially_refunded" and not 0 < refunded < total:
            self.error(f"{path}.status", "a partially refunded order needs completed refunds "
                                         "of more than 0 and less than the total")
        if status in ("paid", "chargeback") and refunded:
            self.error(f"{path}.status", f"order has refunds but status {status!r}")
        if status == "chargeback" and not sums["chargeback"]:
            self.error(f"{path}.payments", "an order in chargeback needs a chargeback movement")

    def _db_client_codes(self, codes: set[str]) -> set[str]:
        if not codes:
            return set()
        return set(self.session.execute(select(Client.code).where(Client.code.in_(codes))).scalars())

    def _db_customers(self, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        emails = {email for _, email in keys}
        if not emails:
            return set()
        rows = self.session.execute(
            select(Client.code, Customer.email).join(Client, Client.id == Customer.client_id)
            .where(Customer.email.in_(emails))
        ).all()
        return {(code, email) for code, email in rows} & keys


def validate(session: Session, document: Any) -> None:
    """Raise ImportValidationError listing every problem (sorted by position in the file)."""
    errors = _schema_errors(document) + _card_number_errors(document, [])
    if not errors:
        checker = _Checker(session, document)
        checker.run()
        errors = checker.errors
    if errors:
        unique = sorted(set(errors), key=lambda e: _sort_key(e[0]))
        raise ImportValidationError([f"{path}: {message}" for path, message in unique])


def _sort_key(path: str) -> list[int | str]:
    return [int(p) if p.isdigit() else p for p in re.split(r"[\[\].]+", path) if p]


def _write(session: Session, doc: dict[str, Any]) -> ImportSummary:
    clients = {}
    for data in doc.get("clients", []):
        client = Client(
            code=data["code"], name=data["name"], refund_policy=data["refund_policy"],
            refund_window_days=data.get("refund_window_days"),
            no_refund_for_charged_period=data.get("no_refund_for_charged_period", False),
            technical_support=data["technical_support"],
            statement_descriptor=data["statement_descriptor"],
        )
        session.add(client)
        clients[client.code] = client
    session.flush()

    def client_for(code: str) -> Client:
        if code not in clients:
            clients[code] = session.execute(select(Client).where(Client.code == code)).scalar_one()
        return clients[code]

    customers = {}
    for data in doc.get("customers", []):
        customer = Customer(client=client_for(data["client"]), email=data["email"].strip().lower(),
                            name=data.get("name"), company=data.get("company"),
                            country=data.get("country"))
        session.add(customer)
        customers[(data["client"], customer.email)] = customer
    session.flush()

    def customer_for(code: str, email: str) -> Customer:
        key = (code, email.strip().lower())
        if key not in customers:
            customers[key] = session.execute(
                select(Customer).where(Customer.client_id == client_for(code).id,
                                       Customer.email == key[1])).scalar_one()
        return customers[key]

    orders = {}
    n_payments = n_refunds = 0
    for data in doc.get("orders", []):
        order = Order(
            reference=data["reference"], client=client_for(data["client"]),
            customer=customer_for(data["client"], data["customer_email"]),
            placed_at=parse_iso(data["placed_at"]), currency=data["currency"],
            net_minor=data["net_minor"], vat_minor=data["vat_minor"],
            total_minor=data["total_minor"], payment_method=data["payment_method"],
            status=data["status"],
        )
        for item in data["items"]:
            order.items.append(OrderItem(
                product_name=item["product_name"], sku=item.get("sku"),
                quantity=item.get("quantity", 1), unit_price_minor=item.get("unit_price_minor", 0),
                license_key=item.get("license_key"), activation_code=item.get("activation_code"),
                download_url=item.get("download_url"),
            ))
        for p in data.get("payments", []):
            card = p.get("card") or {}
            payment = Payment(
                kind=p["kind"], status=p.get("status", "completed"), amount_minor=p["amount_minor"],
                currency=order.currency, method=p.get("method", order.payment_method),
                card_brand=card.get("brand"), card_last4=card.get("last4"),
                occurred_at=parse_iso(p["occurred_at"]),
                provider_reference=p.get("provider_reference"),
            )
            order.payments.append(payment)
            n_payments += 1
            if payment.kind == "charge" and payment.status == "completed" and order.paid_at is None:
                order.paid_at = payment.occurred_at
            if payment.kind == "refund" and payment.status == "completed":
                payment.refund = Refund(
                    order=order, amount_minor=payment.amount_minor, currency=order.currency,
                    status="completed", method=payment.method, card_brand=payment.card_brand,
                    card_last4=payment.card_last4, source="import",
                    provider_reference=payment.provider_reference,
                    requested_at=payment.occurred_at, refunded_at=payment.occurred_at,
                )
                n_refunds += 1
        session.add(order)
        orders[order.reference] = order
    session.flush()

    for data in doc.get("subscriptions", []):
        order = orders[data["order"]]
        session.add(Subscription(
            order=order, client=order.client, customer=order.customer, plan=data["plan"],
            billing_period=data["billing_period"], status=data["status"],
            started_at=parse_iso(data["started_at"]) if data.get("started_at") else order.placed_at,
            current_period_end=parse_iso(data["current_period_end"]),
            auto_renew=data["auto_renew"],
            trial_end=parse_iso(data["trial_end"]) if data.get("trial_end") else None,
            cancelled_at=parse_iso(data["cancelled_at"]) if data.get("cancelled_at") else None,
            renewal_price_minor=data["renewal_price_minor"], currency=order.currency,
        ))
    summary = ImportSummary(
        clients=len(doc.get("clients", [])), customers=len(doc.get("customers", [])),
        orders=len(orders), payments=n_payments, refunds=n_refunds,
        subscriptions=len(doc.get("subscriptions", [])),
    )
    session.add(AuditLog(actor="cli", action="import.loaded", details=summary.__dict__))
    return summary


def import_document(engine: Engine, document: Any) -> ImportSummary:
    """Validate `document` completely, then write it in one transaction."""
    try:
        with session_scope(engine) as session:
            validate(session, document)
            return _write(session, document)
    except ImportValidationError:
        raise
    except SQLAlchemyError as exc:  # e.g. a concurrent import took a reference: all rolled back
        raise ImportValidationError([f"(database): {exc.__class__.__name__}: "
                                     f"{str(exc.orig if hasattr(exc, 'orig') else exc)[:300]}"]
                                    ) from exc


def import_file(engine: Engine, path: str | Path) -> ImportSummary:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ImportValidationError([f"(file): not valid JSON: {exc}"]) from exc
    except OSError as exc:
        raise ImportValidationError([f"(file): cannot read {path}: {exc.strerror}"]) from exc
    return import_document(engine, document)
