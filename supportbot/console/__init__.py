"""The review console for support leads (issue 15).

  accounts/   console users, roles, server-side sessions, login throttle (no web code)
  web/        the aiohttp + Jinja2 app: pages, forms (CSRF), static files (vendored htmx)
  cli.py      `supportbot console --host --port` (serves the app, runs the review indexer)

The review domain it shows (index, queries, tags, exports, queue, erasure) is
`supportbot.review`; this package only adds people, sessions and pages on top of it.
"""
