"""Which human team handles what (seed 002), as data, in one place.

`ROUTING` maps every reason code the bot can hand off with to a team. Refund decisions,
the handoff queue and the actions all route through `team_for()`.
"""
from __future__ import annotations

from collections.abc import Iterable

from supportbot.core.vocabulary import TEAM_CUSTOMER_SERVICE as CS, TEAM_PAYMENT_PROCESSING as PP

ROUTING: dict[str, str] = {
    # --- Customer Service (seed 002) ---
    "unknown_charge": CS,  # identify unknown charges
    "redeliver_order_information": CS,  # confirmation, license key, download link
    "payment_method_change": CS,  # modify payment methods
    "subscription_cancellation": CS,
    "subscription_reinstatement": CS,
    "full_refund_review": CS,  # issue full refunds that need a person
    "policy_approval_required": CS,
    "policy_no_refunds": CS,
    "refund_window_passed": CS,
    "subscription_period_charged": CS,
    "payment_method_not_eligible": CS,
    "quote_request": CS,  # quotes and purchase orders
    "purchase_order": CS,
    "technical_support": CS,  # redirect to the client's technical support
    "billing_address_change": CS,
    "contact_human": CS,
    "customer_request": CS,  # asked for a person (see TASK_REASONS for the team mid-task)
    "verification_failed": CS,  # could not prove the order is theirs
    "verification_locked": CS,  # lookups of an order or a customer's address locked (throttle)
    "other": CS,
    # --- Payment Processing (seed 002) ---
    "manual_payment": PP,
    "duplicate_payment": PP,  # duplicate payments / overpayments / underpayments
    "duplicate_card_charge": PP,
    "overpayment": PP,
    "underpayment": PP,
    "partial_refund": PP,
    "vat_refund": PP,
    "amount_exceeds_total": PP,
    "payment_missing": PP,
    "payment_not_received": PP,
    "refund_missing": PP,
    "refund_overdue": PP,
    "partially_refunded": PP,
    "refund_failed": PP,
    "chargeback": PP,
    "tax_question": PP,  # VAT, sales tax, withholding tax
    "vendor_form": PP,
    "w8_w9_request": PP,
    "payment_delinquency": PP,
    "processing_error": PP,
}

# The reason behind each customer task, for a customer who asks for a person in the middle of
# it: the team that handles the reason takes the case.
TASK_REASONS: dict[str, str] = {
    "unknown_charge": "unknown_charge",
    "duplicate_charge": "duplicate_card_charge",
    "request_refund": "full_refund_review",
    "refund_status": "refund_missing",
    "missing_confirmation": "redeliver_order_information",
    "get_license": "redeliver_order_information",
    "cancel_subscription": "subscription_cancellation",
    "reinstate_subscription": "subscription_reinstatement",
    "change_payment_method": "payment_method_change",
    "update_billing_address": "billing_address_change",
    "payment_missing": "payment_missing",
    "tax_question": "tax_question",
    "quote_request": "quote_request",
    "technical_support": "technical_support",
}

# Reason codes that need no team: the customer is told the answer (e.g. "already refunded").
NO_TEAM_REASONS = frozenset({"already_refunded", "refund_in_progress", "nothing_to_refund",
                             "order_cancelled"})

# When several reasons apply, the team that owns the harder part wins.
TEAM_PRIORITY = (PP, CS)


def team_for(reason_code: str) -> str:
    """The team that handles `reason_code` (unknown codes go to Customer Service)."""
    return ROUTING.get(reason_code, CS)


def team_for_task(task: str | None) -> str:
    """The team for a customer who asks for a person during `task` (None: no task)."""
    return team_for(TASK_REASONS.get(task or "", "customer_request"))


def pick_team(reason_codes: Iterable[str]) -> str | None:
    """The one team for a set of reasons (Payment Processing before Customer Service)."""
    teams = {team_for(code) for code in reason_codes if code not in NO_TEAM_REASONS}
    for team in TEAM_PRIORITY:
        if team in teams:
            return team
    return None
