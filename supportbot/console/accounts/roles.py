"""Console roles (stdlib only: `supportbot --help` imports it without the database layer).

lead      everything: read, judge, the queue, exports, revealing email addresses, erasure, users
reviewer  read, tag, review, correct intents, work the handoff queue
"""
from __future__ import annotations

ROLE_LEAD = "lead"
ROLE_REVIEWER = "reviewer"
ROLES: tuple[str, ...] = (ROLE_LEAD, ROLE_REVIEWER)
