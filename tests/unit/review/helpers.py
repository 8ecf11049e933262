"""Small helpers of the review tests."""
from __future__ import annotations

import re

from sqlalchemy import select, text

from supportbot.privacy import luhn_valid
from supportbot.review.models import conversation_summaries, review_facets, review_tags

_DIGIT_RUNS = re.compile(r"\d(?:[ -]?\d){12,18}")


def full_card_numbers(blob: str) -> list[str]:
    """Every Luhn-valid 13-19 digit run (spaces or dashes allowed between digits) in blob."""
    found = []
    for match in _DIGIT_RUNS.finditer(blob):
        digits = re.sub(r"[ -]", "", match.group(0))
        for size in range(13, 20):
            for start in range(0, len(digits) - size + 1):
                if luhn_valid(digits[start:start + size]):
                    found.append(digits[start:start + size])
    return found


def snapshot(engine) -> dict:
    """The index as comparable data (without the time it was written)."""
    with engine.connect() as conn:
        summaries = {r["conversation_id"]: {k: v for k, v in r.items() if k != "indexed_at"}
                     for r in conn.execute(select(conversation_summaries)).mappings()}
        facets = sorted(tuple(r) for r in conn.execute(select(review_facets)))
        tags = sorted((r.conversation_id, r.tag, r.source) for r in conn.execute(select(review_tags)))
        if engine.dialect.name == "postgresql":
            words = {cid: tuple(sorted(lexemes)) for cid, lexemes in conn.execute(text(
                "SELECT conversation_id, tsvector_to_array(document) FROM review_fts"))}
        else:
            words = {}
            for cid, body in conn.execute(text("SELECT conversation_id, body FROM review_fts "
                                               "ORDER BY rowid")):
                words.setdefault(cid, []).extend(re.findall(r"\w+", body.lower()))
            words = {cid: tuple(sorted(set(w))) for cid, w in words.items()}
    return {"summaries": summaries, "facets": facets, "tags": tags, "words": words}


def audit_entries(engine, action_prefix: str = "review.") -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT actor, action, conversation_id, details FROM audit_log "
                                 "WHERE action LIKE :p ORDER BY id"), {"p": action_prefix + "%"}).all()
    import json

    return [{"actor": a, "action": act, "conversation_id": c,
             "details": d if isinstance(d, dict) else json.loads(d)} for a, act, c, d in rows]
