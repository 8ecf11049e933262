"""The commerce core: orders, verification, refund rules and ledger, handoff queue.

Plain Python + SQLAlchemy, no Rasa imports. The Rasa actions use one entry point,
`supportbot.core.services.SupportServices` (see docs/architecture.md).
"""
