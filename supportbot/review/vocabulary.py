"""The review domain's closed vocabularies (standard library only: the CLI's --help and the
console's forms import them without loading SQLAlchemy)."""
from __future__ import annotations

CHANNELS = ("widget", "email", "rest", "unknown")
REFUND_OUTCOMES = ("issued", "declined", "failed", "none")
REVIEW_STATUSES = ("unreviewed", "reviewed", "needs_attention")
TAG_SOURCES = ("auto", "manual")
FACET_KINDS = ("intent", "action")
EXPORT_FORMATS = ("csv", "jsonl", "nlu", "stories")
