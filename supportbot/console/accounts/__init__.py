"""Console accounts: users with a role, argon2 password hashes, server-side sessions, login
throttle. Plain Python + SQLAlchemy; no web code (supportbot.console.web uses it)."""
