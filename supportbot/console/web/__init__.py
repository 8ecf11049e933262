"""The console's web app (aiohttp + Jinja2, vendored htmx; no CDN, no inline script).

  app.py        create_app(engine): routes, middlewares, background indexer hook
  security.py   response headers (CSP, frame-ancestors, no-store), CSRF checks
  auth.py       sessions from the cookie, login/logout, role checks (HTML -> login, /api -> 401)
  render.py     the Jinja2 environment (autoescape) and template responses
  users.py      user management (leads only)
  review_pages.py  conversations, transcript, judging, exports, reveal, queue, erase
"""
