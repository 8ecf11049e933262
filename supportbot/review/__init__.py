"""The review domain (issue 15): what the support lead's console reads and writes.

No web code here. Plain Python + SQLAlchemy 1.4 (2.0 style), sessions passed in, or the
`ReviewService(engine)` facade (service.py) that owns its unit of work. SQLite and PostgreSQL.

  vocabulary.py  closed vocabularies (channels, outcomes, statuses, export formats; stdlib only)
  models.py    tables (migration 0005_review_index)
  pii.py       masking for display and export (card numbers always, emails unless revealed,
               one-time codes always); the card masking is supportbot.privacy's, never a copy
  events.py    reading Rasa's tracker-store `events` table (SQLTrackerStore schema), no Rasa import
  indexer.py   Indexer.run_once(): incremental from the watermark on events.id, resumable
  rules.py     automatic tags
  queries.py   ConversationFilter, list_conversations, transcript (views are frozen dataclasses)
  judging.py   review status, tags, notes, intent corrections
  exports.py   csv, jsonl, NLU YAML, test stories
  queue.py     the human teams' handoff queue: open tickets, claim, close
  erasure.py   erase a conversation everywhere; the audit log keeps that it happened
  audit.py     audit-log entries of console actions (supportbot.core.audit)
  service.py   ReviewService facade
  cli.py       `supportbot review reindex|export|erase`
"""
