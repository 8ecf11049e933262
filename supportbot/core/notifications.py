"""Mails the core sends to the purchase email address: order confirmation, license keys,
invoice link, secure change-payment-method link. Keys and links never go to the chat."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from supportbot.core.orders import charge_of, mask_email
from supportbot.core.timeutil import Clock, utcnow
from supportbot.core.views import LinkDispatch
from supportbot.core.vocabulary import (
    CARD_BRAND_LABELS,
    PAYMENT_METHOD_LABELS,
    format_duration,
    format_money,
)
from supportbot.db.models import Order
from supportbot.mail import Mailer, build_message

LINK_TTL = timedelta(days=2)


class Notifier:
    def __init__(self, mailer: Mailer, *, mail_from: str, secret_key: str,
                 links_base_url: str = "https://secure.reseller.example", clock: Clock = utcnow):
        self.mailer = mailer
        self.mail_from = mail_from
        self._secret = secret_key.encode()
        self.links_base_url = links_base_url.rstrip("/")
        self.clock = clock

    def signed_link(self, kind: str, reference: str, expires_at: datetime) -> str:
        """`{base}/{kind}/{reference}?expires=...&sig=...` (HMAC with the secret key)."""
        expires = int(expires_at.timestamp())
        sig = hmac.new(self._secret, f"{kind}|{reference}|{expires}".encode(),
                       hashlib.sha256).hexdigest()[:32]
        return f"{self.links_base_url}/{kind}/{reference}?expires={expires}&sig={sig}"

    def _send(self, order: Order, subject: str, body: str) -> str:
        email = order.customer.email
        self.mailer.send(build_message(email, subject, body, sender=self.mail_from))
        return mask_email(email)

    @staticmethod
    def _order_lines(order: Order) -> str:
        lines = [f"Order {order.reference} from {order.client.name}",
                 f"Placed: {order.placed_at:%Y-%m-%d %H:%M} UTC"]
        for item in order.items:
            lines.append(f"  {item.quantity} x {item.product_name}")
        lines.append(f"Net: {format_money(order.net_minor, order.currency)}")
        lines.append(f"VAT: {format_money(order.vat_minor, order.currency)}")
        lines.append(f"Total: {format_money(order.total_minor, order.currency)}")
        charge = charge_of(order)
        method = PAYMENT_METHOD_LABELS.get(order.payment_method, order.payment_method)
        if charge and charge.card_last4:
            method += f" ({CARD_BRAND_LABELS.get(charge.card_brand or '', 'card')} ending {charge.card_last4})"
        lines.append(f"Payment: {method}")
        return "\n".join(lines)

    def order_confirmation(self, order: Order) -> str:
        body = ("Hello,\n\nas requested, here is the confirmation of your order.\n\n"
                f"{self._order_lines(order)}\n\n"
                f"The charge appears on your statement as {order.client.statement_descriptor}.\n")
        return self._send(order, f"Your order {order.reference} (copy)", body)

    def license(self, order: Order) -> str:
        parts = []
        for item in order.items:
            lines = [item.product_name]
            if item.license_key:
                lines.append(f"  License key: {item.license_key}")
            if item.activation_code:
                lines.append(f"  Activation code: {item.activation_code}")
            if item.download_url:
                lines.append(f"  Download: {item.download_url}")
            parts.append("\n".join(lines))
        body = ("Hello,\n\nhere are the license details of your order "
                f"{order.reference} from {order.client.name}.\n\n" + "\n\n".join(parts) +
                f"\n\nFor help with the product itself, contact {order.client.name}'s technical "
                f"support: {order.client.technical_support}\n")
        return self._send(order, f"Your license information for order {order.reference}", body)

    def refund_confirmation(self, order: Order, amount_minor: int, currency: str,
                            destination: str) -> str:
        """The refund's confirmation to the purchase email; the masked address."""
        body = ("Hello,\n\nwe have refunded "
                f"{format_money(amount_minor, currency)} for your order {order.reference} from "
                f"{order.client.name} to {destination}.\n\n"
                "Banks usually show a refund on the statement within a few business days.\n")
        return self._send(order, f"Your refund for order {order.reference}", body)

    def _send_link(self, order: Order, kind: str, subject: str, intro: str,
                   outro: str) -> LinkDispatch:
        """Mail a signed link valid for LINK_TTL; the result says until when it works."""
        expires_at = self.clock() + LINK_TTL
        body = (f"Hello,\n\n{intro} (valid for {format_duration(LINK_TTL)}):\n\n"
                f"{self.signed_link(kind, order.reference, expires_at)}\n\n{outro}\n")
        masked = self._send(order, subject, body)
        return LinkDispatch(masked_email=masked, expires_at=expires_at, valid_for=LINK_TTL)

    def invoice(self, order: Order) -> LinkDispatch:
        return self._send_link(
            order, "invoice", f"Invoice for order {order.reference}",
            "you can download the invoice of your order here", self._order_lines(order))

    def payment_method_link(self, order: Order) -> LinkDispatch:
        return self._send_link(
            order, "payment-method", f"Change the payment method of order {order.reference}",
            "use this secure link to retry the payment or change the payment method of order "
            f"{order.reference}", "We never ask for card details by email or chat.")

