"""Process-wide access to the domain core for the action server.

The core services and the FAQ knowledge base are built on first use, not at import, so
importing the actions never touches the database.
"""
from __future__ import annotations

import threading
from typing import Optional

_lock = threading.Lock()
_services = None
_knowledge = None


def services():
    """The SupportServices facade wired from the environment (SUPPORTBOT_* variables)."""
    global _services
    with _lock:
        if _services is None:
            from supportbot.core.services import SupportServices

            _services = SupportServices.from_settings()
        return _services


def knowledge():
    """The FAQ knowledge base (re-reads faq/ when an article changed)."""
    global _knowledge
    with _lock:
        if _knowledge is None:
            from supportbot.knowledge import KnowledgeBase

            _knowledge = KnowledgeBase.load()
        return _knowledge


def reset(services_obj=None, knowledge_obj=None) -> None:
    """For tests: use these instances instead of the ones built from the environment."""
    global _services, _knowledge
    with _lock:
        _services, _knowledge = services_obj, knowledge_obj


def get_optional_knowledge() -> Optional[object]:
    try:
        return knowledge()
    except Exception:  # the FAQ is a help, never a reason to fail a turn
        return None
