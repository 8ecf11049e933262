"""Outcome analytics (issue 16): honest numbers on how the bot does, from what really happened.

No web code here. Definitions: docs/metrics.md.

  vocabulary.py  closed vocabularies (stdlib only): later-fact kinds, CSAT values, windows
  wilson.py      95 % Wilson score intervals (stdlib only)
  models.py      own MetaData (migration 0007_analytics): conversation_outcomes,
                 conversation_buyer_keys, outcome_facts
  outcomes.py    OutcomeIndexer(engine).run_once(): the review index + Rasa's events + the
                 core's tables -> one outcome row and the buyer keys per conversation
  facts.py       record_fact(): what happened after a conversation (refund reversed or failed at
                 the provider, chargeback opened, ticket reopened), linked to order + conversation
  filters.py     OutcomeFilter: ConversationFilter + outcome fields; every number is one
  linking.py     re-contacts: the same buyer within 7 days about the same order or email
  metrics.py     report(): every metric overall, per first task intent, channel and model id
"""
