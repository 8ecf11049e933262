"""Process-wide access to the domain core and the FAQ for the action server.

The core services are built on first use, not at import, so importing the actions never
touches the database. The FAQ is the knowledge layer's shared knowledge base, which rebuilds
itself when an article in faq/ changes.
"""
from __future__ import annotations

import threading

from supportbot.core.services import SupportServices
from supportbot.knowledge import KnowledgeBase, default_knowledge_base

_lock = threading.Lock()
_knowledge_lock = threading.Lock()
_services: SupportServices | None = None
_knowledge: KnowledgeBase | None = None  # set by tests only


def services() -> SupportServices:
    """The SupportServices facade wired from the environment (SUPPORTBOT_* variables)."""
    global _services
    with _lock:
        if _services is None:
            _services = SupportServices.from_settings()
        return _services


def knowledge() -> KnowledgeBase:
    """The FAQ knowledge base (`supportbot.knowledge.default_knowledge_base`)."""
    if _knowledge is not None:
        return _knowledge
    with _knowledge_lock:
        return default_knowledge_base()


def reset(services_obj: SupportServices | None = None,
          knowledge_obj: KnowledgeBase | None = None) -> None:
    """For tests: use these instances instead of the ones built from the environment."""
    global _services, _knowledge
    with _lock:
        _services, _knowledge = services_obj, knowledge_obj


def get_optional_knowledge() -> KnowledgeBase | None:
    try:
        return knowledge()
    except Exception:  # the FAQ is a help, never a reason to fail a turn
        return None
