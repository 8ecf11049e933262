"""Email-to-chat bridge: inbound SMTP listener -> Rasa REST webhook -> threaded SMTP replies.

Modules:
  config.py      BridgeConfig (the bridge's own environment knobs on top of Settings)
  parsing.py     MIME parsing (text/plain preferred, HTML converted, charsets, attachments),
                 card-number masking of the stored raw message
  cleaning.py    quoted-reply / signature / sign-off stripping, subject handling
  loops.py       auto-reply / bounce / own-address detection (mail-loop guard)
  choices.py     numbered buttons: rendering and mapping "2" / "Duplicate order" to payloads
  render.py      the reply email text (greeting, paragraphs, options, notes, footer)
  rasa_client.py REST webhook client with retries
  store.py       tables (own MetaData), create_schema() fallback, small repository functions
  threads.py     which conversation an email belongs to
  spool.py       outgoing replies: stored first, sent, retried with backoff
  bridge.py      EmailBridge: accept (store raw) and process (one email = one turn)
  server.py      aiosmtpd listener + background worker and spool retry threads
  cli.py         `supportbot email-bridge serve|retry-spool|held|outbox`

See docs/email-bridge.md.
"""
