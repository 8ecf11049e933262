"""Refunds: issue an eligible one exactly once (the core guarantees it), hand the rest to
the right team with the reason, and report where a refund is."""
from __future__ import annotations

from rasa_sdk.events import EventType

from actions.common import (
    RefundRoute,
    format_business_days,
    format_date,
    format_money,
    refund_target,
)
from actions.context import TaskContext
from actions.handoff import announce_handoff, hand_off
from supportbot.core.views import RefundOutcomeStatus, RefundView
from supportbot.core.vocabulary import (
    TEAM_LABELS,
    describe_payment,
)


def _destination(refund: RefundView) -> str:
    return describe_payment(refund.method, refund.card_brand, refund.card_last4)


def finish_refund(ctx: TaskContext) -> list[EventType]:
    tracker, svc = ctx.tracker, ctx.services
    route = tracker.get_slot("refund_route")
    target = refund_target(tracker)
    reason = tracker.get_slot("refund_reason") or "other"

    if tracker.get_slot("pending_task") == "duplicate_charge" and route == RefundRoute.HANDOFF \
            and not tracker.get_slot("refund_target_ref"):
        ctx.dispatcher.utter_message(
            text=f"I can't see a second order that duplicates order {ctx.reference}, so the double "
                 "charge is probably on the payment side. Our Payment Processing team resolves duplicate "
                 "card charges.")
        return hand_off(ctx, None, "duplicate_card_charge",
                        f"Customer reports a duplicate charge for order {ctx.reference}; no duplicate order found")

    if route == RefundRoute.ALREADY_REFUNDED:
        ctx.dispatcher.utter_message(text=f"Order {target} has already been refunded.")
        return report_refund_status(ctx, target)

    if route == RefundRoute.AUTOMATIC:
        if tracker.get_slot("refund_confirmed") is False:
            ctx.dispatcher.utter_message(text="OK, I haven't refunded anything. Is there anything else I can do?")
            return []
        outcome = svc.issue_refund(ctx.conversation_id, target, reason,
                                   idempotency_key=f"chat:{ctx.conversation_id}:{target}")
        if outcome.status in (RefundOutcomeStatus.REFUNDED, RefundOutcomeStatus.ALREADY_REFUNDED) \
                and outcome.refund is not None:
            refund = outcome.refund
            # "a confirmation is on its way" only when the core mailed one
            receipt = (f" A confirmation is on its way to {outcome.receipt_sent_to}."
                       if outcome.receipt_sent_to else "")
            ctx.dispatcher.utter_message(
                text=f"Done: I've refunded {format_money(refund.amount_minor, refund.currency)} for order "
                     f"{target} to {_destination(refund)}. Banks usually show it within "
                     f"{format_business_days(refund.typical_delay_days)}.{receipt}")
            return []
        if outcome.status == RefundOutcomeStatus.HANDED_OFF and outcome.ticket is not None:
            assert outcome.decision is not None  # a handed-off refund says why
            ctx.dispatcher.utter_message(text=outcome.decision.explanation)
            return announce_handoff(ctx, outcome.ticket)
        if outcome.status in (RefundOutcomeStatus.CONFIRMATION_REQUIRED, RefundOutcomeStatus.NOT_VERIFIED):
            # the core has no "yes" of this customer to this refund after a code: whatever the
            # slots say, nothing moves and nobody is asked to move it
            ctx.dispatcher.utter_message(
                text="I haven't refunded anything: I can only do that after you've typed the code "
                     "from our email and said yes to the refund. Just ask again if you'd like it.")
            return []
        ctx.dispatcher.utter_message(text="I couldn't complete the refund. I'll pass it to a person.")
        return hand_off(ctx, None, "refund_failed",
                        f"Refund for order {target} failed: {outcome.status}")

    # not automatic: say why, in the customer's terms, and hand over to the team that can
    decision = svc.refund_decision(ctx.conversation_id, target, reason)
    ctx.dispatcher.utter_message(text=decision.explanation)
    if decision.team is None:  # e.g. a trial: nothing was charged, nothing for a person to do
        return []
    code = decision.handoff_reason or (decision.reasons[0] if decision.reasons else "refund_needs_review")
    return hand_off(ctx, decision.team, code, f"Refund request for order {target} ({reason}): "
                    + ", ".join(decision.reasons), reference=target)


def report_refund_status(ctx: TaskContext, reference: str | None = None) -> list[EventType]:
    reference = reference or ctx.reference
    status = ctx.services.refund_status(ctx.conversation_id, reference)
    if not status or not status.refunds:
        ctx.dispatcher.utter_message(
            text=f"I can't see a refund for order {reference} yet. If you'd like one, just say \"I want a refund\".")
        return []
    for refund in status.refunds:
        amount = format_money(refund.amount_minor, refund.currency)
        if refund.status == "completed":
            text = (f"We refunded {amount} on {format_date(refund.refunded_at or refund.requested_at)} "
                    f"to {_destination(refund)}.")
        elif refund.status == "failed":
            text = (f"A refund of {amount} to {_destination(refund)}, requested on "
                    f"{format_date(refund.requested_at)}, did not go through at the payment provider.")
        else:  # pending: requested, the provider has not confirmed it yet
            text = (f"A refund of {amount} to {_destination(refund)} was requested on "
                    f"{format_date(refund.requested_at)} and is still being processed.")
        ctx.dispatcher.utter_message(text=text)
    if status.overdue:
        assert status.team is not None  # an overdue refund always has a team to trace it
        ctx.dispatcher.utter_message(
            text=f"That's longer than banks normally take, so I'll ask our "
                 f"{TEAM_LABELS[status.team]} team to trace it.")
        return hand_off(ctx, status.team, "refund_missing",
                        f"Refund for order {reference} not received after the usual delay", reference=reference)
    if any(refund.status == "failed" for refund in status.refunds):
        return hand_off(ctx, None, "refund_failed",
                        f"Refund for order {reference} failed at the payment provider", reference=reference)
    if not any(refund.status == "completed" for refund in status.refunds):
        ctx.dispatcher.utter_message(
            text="You don't need to ask again: once the payment provider confirms it, your bank "
                 f"usually takes {format_business_days(status.typical_delay_days)} to show it.")
        return []
    ctx.dispatcher.utter_message(
        text=f"Banks usually take {format_business_days(status.typical_delay_days)} to show a refund "
             "on your statement, so it should appear soon. If it hasn't after that, write to us again.")
    return []
