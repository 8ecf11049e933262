"""Automatic tags: rules over a conversation's summary, re-applied whenever it is indexed.

Rule tags are stored with source `auto` (created_by `rules`); a rule that no longer holds
removes its tag, manual tags are never touched.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LOW_CONFIDENCE = 0.5
RULES_ACTOR = "rules"

RULES: dict[str, Callable[[Mapping[str, Any]], bool]] = {
    "refund-issued": lambda s: s.get("refund_outcome") == "issued",
    "refund-declined": lambda s: s.get("refund_outcome") == "declined",
    "refund-failed": lambda s: s.get("refund_outcome") == "failed",
    "low-confidence": lambda s: s.get("lowest_confidence") is not None
    and s["lowest_confidence"] < LOW_CONFIDENCE,
    "fallback": lambda s: (s.get("fallbacks") or 0) > 0,
    "handed-off": lambda s: s.get("handoff_team") is not None,
}


def automatic_tags(summary: Mapping[str, Any]) -> set[str]:
    return {tag for tag, rule in RULES.items() if rule(summary)}
