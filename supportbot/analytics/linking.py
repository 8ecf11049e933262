"""Re-contact linking: the same buyer writing again within 7 days, on any channel, about the same
order or from the same verified email address (conversation_buyer_keys).

Conversation B is a re-contact of A when they share a buyer key and B started after A began and
no later than the end of A's window (`conversation_outcomes.window_end`: task end, or last
activity, + 7 days). `refresh_derived` keeps `recontacted_at` (the first re-contact's start) and
`later_fact_at` (the first later fact inside the window) of conversations up to date; the
`recontacts_after` / `recontact_of` lists use the same join.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from supportbot.analytics.models import conversation_buyer_keys, conversation_outcomes, outcome_facts
from supportbot.review.models import conversation_summaries

CHUNK = 500


@dataclass(frozen=True)
class Link:
    earlier: str  # the conversation that was followed by a re-contact
    later: str  # the re-contact
    basis: tuple[str, ...]  # "order", "email" (what they have in common)
    later_started: datetime
    later_channel: str


def _pairs() -> tuple[Any, Any, Any]:
    """(k1: the earlier conversation's keys, later's summary, FROM clause of earlier/later pairs)."""
    k1 = conversation_buyer_keys.alias("k1")
    k2 = conversation_buyer_keys.alias("k2")
    s1 = conversation_summaries.alias("s1")
    s2 = conversation_summaries.alias("s2")
    o1 = conversation_outcomes.alias("o1")
    joined = (k1.join(k2, and_(k2.c.kind == k1.c.kind, k2.c.value == k1.c.value,
                               k2.c.conversation_id != k1.c.conversation_id))
              .join(s1, s1.c.conversation_id == k1.c.conversation_id)
              .join(o1, o1.c.conversation_id == k1.c.conversation_id)
              .join(s2, and_(s2.c.conversation_id == k2.c.conversation_id,
                             s2.c.first_activity > s1.c.first_activity,
                             s2.c.first_activity <= o1.c.window_end)))
    return k1, s2, joined


def _links(session: Session, *, earlier: str | None = None, later: str | None = None) -> list[Link]:
    k1, s2, joined = _pairs()
    query = select(k1.c.conversation_id, s2.c.conversation_id, k1.c.kind, s2.c.first_activity,
                   s2.c.channel).select_from(joined)
    if earlier is not None:
        query = query.where(k1.c.conversation_id == earlier)
    if later is not None:
        query = query.where(s2.c.conversation_id == later)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for first, second, kind, started, channel in session.execute(query):
        entry = found.setdefault((first, second), {"basis": set(), "started": started,
                                                   "channel": channel})
        entry["basis"].add(kind)
    return sorted((Link(a, b, tuple(sorted(v["basis"])), v["started"], v["channel"])
                   for (a, b), v in found.items()), key=lambda link: (link.later_started, link.later))


def recontacts_after(session: Session, conversation_id: str) -> list[Link]:
    """The re-contacts that followed this conversation (why it is not resolved)."""
    return _links(session, earlier=conversation_id)


def recontact_of(session: Session, conversation_id: str) -> list[Link]:
    """The earlier conversations this one is a re-contact of."""
    return _links(session, later=conversation_id)


def same_buyer(session: Session, conversation_ids: Iterable[str]) -> set[str]:
    """These conversations and every conversation sharing a buyer key with one of them."""
    ids = list(dict.fromkeys(conversation_ids))
    found = set(ids)
    k1 = conversation_buyer_keys.alias("k1")
    k2 = conversation_buyer_keys.alias("k2")
    for i in range(0, len(ids), CHUNK):
        found.update(session.execute(
            select(k2.c.conversation_id).select_from(
                k1.join(k2, and_(k2.c.kind == k1.c.kind, k2.c.value == k1.c.value)))
            .where(k1.c.conversation_id.in_(ids[i:i + CHUNK])).distinct()).scalars())
    return found


def refresh_derived(session: Session, conversation_ids: Iterable[str]) -> None:
    """Recompute `recontacted_at` and `later_fact_at` of these conversations' outcome rows."""
    ids = sorted(set(conversation_ids))
    oc = conversation_outcomes.c
    fc = outcome_facts.c
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        k1, s2, joined = _pairs()
        recontacted = dict(session.execute(
            select(k1.c.conversation_id, func.min(s2.c.first_activity)).select_from(joined)
            .where(k1.c.conversation_id.in_(chunk)).group_by(k1.c.conversation_id)).all())
        facts = dict(session.execute(
            select(fc.conversation_id, func.min(fc.occurred_at))
            .select_from(outcome_facts.join(conversation_outcomes,
                                            oc.conversation_id == fc.conversation_id))
            .where(fc.conversation_id.in_(chunk), fc.occurred_at <= oc.window_end)
            .group_by(fc.conversation_id)).all())
        session.execute(
            update(conversation_outcomes).where(oc.conversation_id == bindparam("cid"))
            .values(recontacted_at=bindparam("recontacted"), later_fact_at=bindparam("fact")),
            [{"cid": cid, "recontacted": recontacted.get(cid), "fact": facts.get(cid)}
             for cid in chunk])
