"""supportbot: a customer-support assistant for software resellers (merchants of record).

Layout:
  supportbot.core       domain core (orders, refund policy, refund ledger, verification,
                        handoff queue) -- plain Python + SQLAlchemy, no Rasa imports
  supportbot.db         SQLAlchemy models, engine/session handling, Alembic migrations
  supportbot.knowledge  FAQ knowledge base and retriever
  supportbot.nlu        custom Rasa NLU components (spaCy rule-based entities)
  supportbot.channels   website chat widget and email-to-chat bridge
  supportbot.runtime    process supervisor used by `make run`
"""

__version__ = "0.1.0"
