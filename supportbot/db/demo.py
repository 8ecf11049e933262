"""A realistic, deterministic demo data set (`supportbot db demo`).

Everything is placed relative to an anchor time `now` (default: the current UTC time), so that
"paid 5 days ago" stays 5 days ago whenever the set is loaded. The fixed records 100000001 ..
100000022 are what the conversation tests rely on (docs/demo-data.md lists them); `extra_orders`
adds random-but-seeded orders (references from 100001001) around them.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from supportbot.core.vocabulary import PAYMENT_METHODS
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

DEFAULT_SEED = 20240601
EXTRA_REFERENCE_START = 100001001
VAT_RATE_PERCENT = 19  # a German buyer: 19 % VAT included in EUR prices


@dataclass(frozen=True)
class ClientSpec:
    code: str
    name: str
    refund_policy: str
    refund_window_days: int | None
    technical_support: str
    statement_descriptor: str
    products: tuple[tuple[str, str, int], ...]  # (name, sku, gross price in minor units)
    currency: str = "EUR"
    no_refund_for_charged_period: bool = False
    license_prefix: str = "KEY"
    download_host: str = "downloads.example"


CLIENTS = (
    ClientSpec("pixelforge", "PixelForge Studio", "no_restrictions", None,
               "support@pixelforge.example", "RSLR*PIXELFORGE",
               (("PixelForge Photo Editor 5", "PF-PE5", 4900),
                ("PixelForge Brush Pack", "PF-BRUSH", 1900)),
               license_prefix="PFG", download_host="downloads.pixelforge.example"),
    ClientSpec("notenest", "NoteNest", "within_days", 30,
               "https://help.notenest.example", "RSLR*NOTENEST",
               (("NoteNest Pro (lifetime)", "NN-PRO", 4500),
                ("NoteNest Team, 5 seats", "NN-TEAM5", 19900)),
               license_prefix="NN", download_host="get.notenest.example"),
    ClientSpec("securevault", "SecureVault", "within_days", 14,
               "support@securevault.example", "RSLR*SECUREVAULT",
               (("SecureVault Password Manager, 1 year", "SV-PM1Y", 3588),),
               license_prefix="SV", download_host="dl.securevault.example"),
    ClientSpec("clearface", "ClearFace Cloud", "no_refunds", None,
               "https://support.clearface.example", "RSLR*CLEARFACE",
               (("ClearFace for SMB, yearly", "CF-SMB-Y", 29900),
                ("ClearFace for SMB, quarterly", "CF-SMB-Q", 8900)),
               no_refund_for_charged_period=True, license_prefix="CF",
               download_host="app.clearface.example"),
    ClientSpec("dataharbor", "DataHarbor Enterprise", "approval_required", None,
               "enterprise-support@dataharbor.example", "RSLR*DATAHARBOR",
               (("DataHarbor Backup Server", "DH-BKP", 89900),),
               license_prefix="DH", download_host="downloads.dataharbor.example"),
    ClientSpec("codesmith", "CodeSmith Tools", "within_days", 60,
               "https://codesmith.example/support", "RSLR*CODESMITH",
               (("CodeSmith IDE Pro", "CS-IDE", 12900),),
               currency="USD", license_prefix="CSI", download_host="download.codesmith.example"),
)


@dataclass
class DemoSummary:
    now: datetime
    clients: int = 0
    customers: int = 0
    orders: int = 0
    references: list[str] = field(default_factory=list)
    skipped: bool = False


def _split_vat(total_minor: int, currency: str) -> tuple[int, int]:
    """(net, vat) of a gross price; USD orders are sold without VAT."""
    if currency != "EUR":
        return total_minor, 0
    net = (total_minor * 100 + (100 + VAT_RATE_PERCENT) // 2) // (100 + VAT_RATE_PERCENT)
    return net, total_minor - net


def _license_key(rng: random.Random, prefix: str) -> str:
    alphabet = string.ascii_uppercase + string.digits
    groups = ["".join(rng.choice(alphabet) for _ in range(4)) for _ in range(4)]
    return f"{prefix}-" + "-".join(groups)


class DemoBuilder:
    def __init__(self, session: Session, now: datetime):
        self.session = session
        self.now = now
        self.clients: dict[str, Client] = {}
        self.specs = {spec.code: spec for spec in CLIENTS}
        self.customers: dict[tuple[str, str], Customer] = {}
        self.orders: list[Order] = []

    def ago(self, days: float = 0, minutes: float = 0) -> datetime:
        return self.now - timedelta(days=days, minutes=minutes)

    def add_clients(self) -> None:
        for spec in CLIENTS:
            client = Client(
                code=spec.code, name=spec.name, refund_policy=spec.refund_policy,
                refund_window_days=spec.refund_window_days,
                no_refund_for_charged_period=spec.no_refund_for_charged_period,
                technical_support=spec.technical_support,
                statement_descriptor=spec.statement_descriptor, created_at=self.ago(days=900),
            )
            self.session.add(client)
            self.clients[spec.code] = client
        self.session.flush()

    def customer(self, client_code: str, email: str, name: str, country: str = "DE",
                 company: str | None = None) -> Customer:
        key = (client_code, email)
        if key not in self.customers:
            customer = Customer(client=self.clients[client_code], email=email.lower(), name=name,
                                company=company, country=country, created_at=self.ago(days=900))
            self.session.add(customer)
            self.customers[key] = customer
        return self.customers[key]

    def order(
        self,
        reference: str,
        client_code: str,
        email: str,
        name: str,
        *,
        placed_days_ago: float,
        placed_minutes_ago: float = 0,
        method: str,
        product: int = 0,
        quantity: int = 1,
        status: str = "paid",
        card: tuple[str, str] | None = None,
        paid_after_minutes: float = 2,
        company: str | None = None,
        country: str = "DE",
        free: bool = False,
        rng: random.Random | None = None,
    ) -> Order:
        spec = self.specs[client_code]
        product_name, sku, unit_price = spec.products[product]
        if free:
            unit_price = 0
        total = unit_price * quantity
        net, vat = _split_vat(total, spec.currency)
        placed_at = self.ago(days=placed_days_ago, minutes=placed_minutes_ago)
        paid = status != "pending" and status != "cancelled" and total > 0
        rng = rng or random.Random(f"license-{reference}")
        order = Order(
            reference=reference, client=self.clients[client_code],
            customer=self.customer(client_code, email, name, country, company),
            placed_at=placed_at,
            paid_at=placed_at + timedelta(minutes=paid_after_minutes) if paid else None,
            currency=spec.currency, net_minor=net, vat_minor=vat, total_minor=total,
            payment_method=method, status=status,
        )
        slug = sku.lower()
        order.items.append(OrderItem(
            product_name=product_name, sku=sku, quantity=quantity, unit_price_minor=unit_price,
            license_key=_license_key(rng, spec.license_prefix),
            activation_code="".join(rng.choice(string.digits) for _ in range(8)),
            download_url=f"https://{spec.download_host}/{slug}/{rng.getrandbits(64):016x}",
        ))
        if paid:
            order.payments.append(Payment(
                kind="charge", status="completed", amount_minor=total, currency=spec.currency,
                method=method, card_brand=card[0] if card else None,
                card_last4=card[1] if card else None, occurred_at=order.paid_at,
                provider_reference=f"ch_{reference}",
            ))
        self.session.add(order)
        self.orders.append(order)
        return order

    def refund(self, order: Order, *, days_ago: float, amount_minor: int | None = None) -> Refund:
        amount = amount_minor or order.total_minor
        charge = order.payments[0]
        when = self.ago(days=days_ago)
        refund = Refund(
            order=order, amount_minor=amount, currency=order.currency, status="completed",
            reason="no_longer_needed", method=order.payment_method, card_brand=charge.card_brand,
            card_last4=charge.card_last4, source="demo",
            provider_idempotency_key=f"refund-{order.reference}-{amount}-{order.currency}",
            provider_reference=f"re_{order.reference}", requested_at=when, refunded_at=when,
        )
        self.session.add(refund)
        order.payments.append(Payment(
            kind="refund", status="completed", amount_minor=amount, currency=order.currency,
            method=order.payment_method, card_brand=charge.card_brand,
            card_last4=charge.card_last4, occurred_at=when, provider_reference=f"re_{order.reference}",
            refund=refund,
        ))
        order.status = "refunded" if amount >= order.total_minor else "partially_refunded"
        return refund

    def subscription(self, order: Order, *, period: str, status: str, period_end: datetime,
                     auto_renew: bool, started_at: datetime | None = None,
                     trial_end: datetime | None = None, cancelled_at: datetime | None = None,
                     renewal_product: int = 0) -> Subscription:
        spec = self.specs[order.client.code]
        sub = Subscription(
            order=order, client=order.client, customer=order.customer,
            plan=spec.products[renewal_product][0], billing_period=period, status=status,
            started_at=started_at or order.placed_at, current_period_end=period_end,
            auto_renew=auto_renew, trial_end=trial_end, cancelled_at=cancelled_at,
            renewal_price_minor=spec.products[renewal_product][2], currency=spec.currency,
        )
        self.session.add(sub)
        return sub

    # ------------------------------------------------------------------------------------------
    def add_fixed_records(self) -> None:
        """The records the conversation tests rely on (docs/demo-data.md)."""
        o = self.order
        o("100000001", "pixelforge", "alice@example.com", "Alice Adams", placed_days_ago=5,
          method="credit_card", card=("visa", "4242"))
        o("100000002", "notenest", "bob@example.com", "Bob Brown", placed_days_ago=45,
          method="credit_card", card=("visa", "1111"))
        o("100000003", "pixelforge", "carol@example.com", "Carol Clark", placed_days_ago=3,
          method="wire_transfer", paid_after_minutes=240)
        o("100000004", "pixelforge", "dan@example.com", "Dan Davis", placed_days_ago=10,
          method="wire_transfer", status="pending")
        o("100000005", "pixelforge", "erin@example.com", "Erin Evans", placed_days_ago=2,
          placed_minutes_ago=10, method="paypal")
        o("100000006", "pixelforge", "erin@example.com", "Erin Evans", placed_days_ago=2,
          method="paypal")
        frank = o("100000007", "securevault", "frank@example.com", "Frank Fischer",
                  placed_days_ago=12, method="credit_card", card=("mastercard", "5454"))
        self.refund(frank, days_ago=3)
        grace = o("100000008", "pixelforge", "grace@example.com", "Grace Green",
                  placed_days_ago=25, method="credit_card", card=("visa", "1881"), product=1)
        self.refund(grace, days_ago=20)
        heidi = o("100000009", "notenest", "heidi@example.com", "Heidi Hoffmann",
                  placed_days_ago=40, method="credit_card", card=("amex", "0005"), product=1,
                  status="chargeback")
        heidi.payments.append(Payment(
            kind="chargeback", status="completed", amount_minor=heidi.total_minor,
            currency=heidi.currency, method="credit_card", card_brand="amex", card_last4="0005",
            occurred_at=self.ago(days=10), provider_reference="cb_100000009",
        ))
        ivan = o("100000010", "clearface", "ivan@example.com", "Ivan Ivanov", placed_days_ago=165,
                 method="credit_card", card=("visa", "4000"))
        self.subscription(ivan, period="yearly", status="active",
                          period_end=self.ago(days=-200), auto_renew=True)
        judy = o("100000011", "clearface", "judy@example.com", "Judy Jones", placed_days_ago=300,
                 method="paypal")
        self.subscription(judy, period="yearly", status="cancelled",
                          period_end=self.ago(days=-65), auto_renew=False,
                          cancelled_at=self.ago(days=10))
        ken = o("100000012", "clearface", "ken@example.com", "Ken Kato", placed_days_ago=7,
                method="credit_card", free=True)
        self.subscription(ken, period="yearly", status="trial", period_end=self.ago(days=-7),
                          auto_renew=True, trial_end=self.ago(days=-7))
        o("100000013", "dataharbor", "liam@example.com", "Liam Lewis", placed_days_ago=2,
          method="credit_card", card=("mastercard", "2222"), company="Lewis Logistics Ltd",
          country="GB")
        o("100000014", "securevault", "mia@example.com", "Mia Müller", placed_days_ago=10,
          method="apple_pay", card=("visa", "6789"))
        # every other payment method, an old order, a cancelled and a partially refunded one
        o("100000015", "codesmith", "noah@example.com", "Noah Nelson", placed_days_ago=20,
          method="google_pay", card=("mastercard", "8210"), country="US")
        o("100000016", "pixelforge", "olivia@example.com", "Olivia Ortiz", placed_days_ago=15,
          method="alipay", product=1, country="CN")
        o("100000017", "notenest", "paul@example.com", "Paul Peters", placed_days_ago=7,
          method="direct_debit", paid_after_minutes=60 * 24 * 2)
        o("100000018", "codesmith", "quinn@example.com", "Quinn Quigley", placed_days_ago=4,
          method="amazon_pay", country="US")
        o("100000019", "dataharbor", "rachel@example.com", "Rachel Richter", placed_days_ago=60,
          method="purchase_order", quantity=4, company="Harbor Logistics GmbH",
          paid_after_minutes=60 * 24 * 21)
        o("100000020", "pixelforge", "sam@example.com", "Sam Schmidt", placed_days_ago=400,
          method="credit_card", card=("visa", "4242"))
        o("100000021", "notenest", "tina@example.com", "Tina Thomas", placed_days_ago=50,
          method="wire_transfer", status="cancelled")
        uma = o("100000022", "notenest", "uma@example.com", "Uma Ulrich", placed_days_ago=9,
                method="credit_card", card=("visa", "5556"), product=1)
        self.refund(uma, days_ago=6, amount_minor=5000)

    def add_extra_orders(self, count: int, seed: int) -> None:
        rng = random.Random(seed)
        first = ["Anna", "Ben", "Chloe", "David", "Ella", "Felix", "Greta", "Hugo", "Isla", "Jonas",
                 "Klara", "Leo", "Marta", "Nils", "Oskar", "Pia", "Rosa", "Tom", "Vera", "Yann"]
        last = ["Bauer", "Costa", "Dubois", "Eriksen", "Fontaine", "Garcia", "Hansen", "Ito",
                "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "Olsen", "Rossi", "Silva"]
        brands = ("visa", "mastercard", "amex", "discover", "jcb", "maestro")
        carded = {"credit_card", "apple_pay", "google_pay"}
        for i in range(count):
            reference = str(EXTRA_REFERENCE_START + i)
            spec = CLIENTS[rng.randrange(len(CLIENTS))]
            name = f"{rng.choice(first)} {rng.choice(last)}"
            email = f"{name.lower().replace(' ', '.')}.{rng.randrange(1000):03d}@example.net"
            method = PAYMENT_METHODS[i % len(PAYMENT_METHODS)] if i < len(PAYMENT_METHODS) \
                else rng.choice(PAYMENT_METHODS)
            roll = rng.random()
            status = ("pending" if method in ("wire_transfer", "purchase_order") and roll < 0.3
                      else "chargeback" if roll > 0.97 else "paid")
            card = (rng.choice(brands), f"{rng.randrange(10000):04d}") if method in carded else None
            order = self.order(
                reference, spec.code, email, name, placed_days_ago=rng.uniform(0.1, 400),
                method=method, product=rng.randrange(len(spec.products)),
                quantity=1 if rng.random() < 0.85 else rng.randint(2, 5), status=status,
                card=card, rng=rng, country=rng.choice(["DE", "FR", "AT", "NL", "US", "GB"]),
            )
            if status == "paid" and 0.85 < roll <= 0.97:
                self.refund(order, days_ago=rng.uniform(0, min(30, (self.now - order.placed_at).days)))
            if spec.code == "clearface" and order.status == "paid":
                period = "yearly" if order.items[0].sku.endswith("Y") else "quarterly"
                length = 365 if period == "yearly" else 91
                age = (self.now - order.placed_at).days % length
                auto = rng.random() < 0.7
                self.subscription(order, period=period, status="active" if auto else "cancelled",
                                  period_end=self.ago(days=age - length), auto_renew=auto,
                                  cancelled_at=None if auto else self.ago(days=rng.uniform(0, age)),
                                  renewal_product=0 if period == "yearly" else 1)


def is_empty(session: Session) -> bool:
    return bool(session.execute(select(func.count(Client.id))).scalar_one() == 0 and
                session.execute(select(func.count(Order.id))).scalar_one() == 0)


def load_demo(engine: Engine, *, now: datetime, extra_orders: int = 40, seed: int = DEFAULT_SEED,
              if_empty: bool = False) -> DemoSummary:
    """Load the demo set in one transaction. With `if_empty`, a database that already holds
    clients or orders is left alone (`skipped=True`)."""
    if now.tzinfo is None:
        raise ValueError("the demo anchor time must be timezone-aware")
    summary = DemoSummary(now=now)
    with session_scope(engine) as session:
        if not is_empty(session):
            if if_empty:
                summary.skipped = True
                return summary
            raise ValueError("the database already holds clients or orders; "
                             "use --if-empty to skip, or an empty database")
        builder = DemoBuilder(session, now)
        builder.add_clients()
        builder.add_fixed_records()
        builder.add_extra_orders(extra_orders, seed)
        session.flush()
        session.add(AuditLog(occurred_at=now, actor="cli", action="demo.loaded",
                             details={"anchor": now.isoformat(), "extra_orders": extra_orders,
                                      "seed": seed, "orders": len(builder.orders)}))
        summary.clients = len(builder.clients)
        summary.customers = len(builder.customers)
        summary.orders = len(builder.orders)
        summary.references = [o.reference for o in builder.orders]
    return summary
