"""Every throttle limit, lock duration and verification lifetime of the core, in one place.

Stdlib only. `VerificationService` and the charge lookup read `Limits`; tests and deployments
pass another `Limits(...)` (`SupportServices(..., limits=...)`). The durations a customer reads
("try again in 15 minutes") come from these values through the facade's results.

* Order lookups (email + reference) that fail count against the conversation, the client
  address (the channel's `client_address`; the conversation id when a channel gives none), the
  order reference and the email address, whichever conversation sends them.
  - conversation and client address: a sliding window - allowed again when the oldest of the
    last `limit` failures leaves it (those are the stranger's own; nobody else is blocked);
  - reference and email address: `limit` failures within `window` **lock** that reference or
    address for `lock_for` (every conversation), and the lock of an existing order or customer
    opens a handoff ticket. Failures made while a lock is on are not counted (they are not
    tried), so a lock ends after `lock_for` and the next needs `limit` new failures: a stranger
    cannot lock a customer out for longer than that at a time.
  An unknown reference or address is locked exactly like a known one (only the ticket differs,
  which the customer never sees): the throttle is no oracle of what exists.
* Charge lookups (amount, date, card's last 4 digits) count every lookup, per conversation and
  per client address (sliding windows).
* A verification (email + reference) is good for `verification_ttl` after it was proved;
  afterwards every order disclosure and change needs a fresh lookup.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Rule:
    """`limit` events within `window`; then wait (sliding) or, with `lock_for`, a lock."""

    limit: int
    window: timedelta
    lock_for: timedelta | None = None


@dataclass(frozen=True)
class Limits:
    lookup_per_conversation: Rule = Rule(5, timedelta(minutes=15))
    lookup_per_client: Rule = Rule(10, timedelta(minutes=15))
    lookup_per_reference: Rule = Rule(5, timedelta(minutes=15), lock_for=timedelta(minutes=15))
    lookup_per_email: Rule = Rule(5, timedelta(minutes=15), lock_for=timedelta(minutes=15))
    charges_per_conversation: Rule = Rule(5, timedelta(minutes=15))
    charges_per_client: Rule = Rule(10, timedelta(hours=1))
    verification_ttl: timedelta = timedelta(minutes=30)


DEFAULT_LIMITS = Limits()
