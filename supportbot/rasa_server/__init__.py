"""Adapters that run inside the Rasa server process (configured in endpoints.yml): the
conversation store and a faster check of the action server's answers."""
