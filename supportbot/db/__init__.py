"""Database layer: models, engine and session handling, migrations."""
